// The keyboard shortcuts of each interface, as the help dialog lists them.

import { element, keyHint } from "./dom.js";

const COMMON_KEYS = [
  ["a", "Accept the task"],
  ["x", "Reject the task"],
  ["space", "Ignore the task (skip it)"],
  ["⌫ backspace", "Undo the last answer"],
  ["i", "Show or hide the instructions"],
  ["h", "Show or hide the recent answers"],
  ["r", "Look for new tasks (when none is left)"],
  ["?", "Show or hide this list"],
  ["esc", "Close a dialog"],
];

const TOKEN_KEYS = [
  ["1 – 9", "Pick label 1 to 9 for new spans"],
  ["drag", "Select tokens with the mouse to add a span"],
  ["click, shift-click", "Click the first token, shift-click the last one"],
  ["double-click", "Add a span for one word"],
  ["tab", "Move the focus to the text"],
  ["← →", "Move between tokens once the text has focus"],
  ["shift + ← →", "Extend the selection"],
  ["enter", "Add a span for the selection"],
  ["×", "Remove a span"],
];

export const INTERFACE_KEYS = {
  binary: [],
  choice: [["1 – 9", "Choose or clear option 1 to 9"]],
  ner_manual: TOKEN_KEYS,
  spans_manual: [
    ...TOKEN_KEYS.slice(0, -1),
    ["×", "Remove a span (in the list under the text)"],
  ],
  text_input: [
    ["tab", "Move the focus to the answer field"],
    ["ctrl + enter", "Accept with the text typed (in the answer field)"],
    ["esc", "Leave the answer field, so the keys below work again"],
  ],
  image_manual: [
    ["1 – 9", "Pick label 1 to 9; relabels the selected box"],
    ["drag", "Draw a box on the image"],
    ["b", "Add a box in the middle of the image"],
    ["n", "Select the next box"],
    ["← ↑ → ↓", "Move the selected box"],
    ["shift + arrows", "Resize the selected box"],
    ["del", "Remove the selected box"],
    ["esc", "Clear the selection"],
  ],
};

const REVIEW_KEYS = [
  ["v", "Show the next version"],
  ["shift + v", "Show the previous version"],
  ["a", "Accept the version shown, with your edits"],
  ["x", "Reject the example"],
];

const REVIEW_EDITS = {
  ner_manual: INTERFACE_KEYS.ner_manual,
  spans_manual: INTERFACE_KEYS.spans_manual,
  choice: INTERFACE_KEYS.choice,
};

export function keysFor(feed) {
  if (feed.interface === "review") {
    const edits = REVIEW_EDITS[feed.reviewed_interface] || [];
    const common = COMMON_KEYS.filter(([key]) => key !== "a" && key !== "x");
    return [...REVIEW_KEYS, ...edits, ...common];
  }
  return [...(INTERFACE_KEYS[feed.interface] || []), ...COMMON_KEYS];
}

export function fillHelp(feed) {
  const body = document.getElementById("help-keys");
  body.replaceChildren();
  for (const [key, action] of keysFor(feed)) {
    const row = element("tr");
    const keyCell = element("th");
    keyCell.scope = "row";
    keyCell.append(keyHint(key));
    row.append(keyCell, element("td", null, action));
    body.append(row);
  }
}
