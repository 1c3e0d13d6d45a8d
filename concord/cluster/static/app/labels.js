// The label bar of span and box interfaces, and the colours of labels.

import { element, keyHint } from "./dom.js";

// Pairs of (background, dark foreground). By the WCAG 2 contrast formula, the
// page's ink colour on each background reaches at least 10:1, and white text
// on each dark colour at least 7:1.
const LABEL_COLORS = [
  ["#fde68a", "#92400e"],
  ["#bfdbfe", "#1e3a8a"],
  ["#bbf7d0", "#14532d"],
  ["#fecaca", "#7f1d1d"],
  ["#ddd6fe", "#4c1d95"],
  ["#fbcfe8", "#831843"],
  ["#a5f3fc", "#164e63"],
  ["#fed7aa", "#7c2d12"],
  ["#d9f99d", "#365314"],
  ["#e9d5ff", "#581c87"],
];
const UNKNOWN_LABEL_COLOR = ["#e5e7eb", "#1f2937"];

// Feed labels take the palette in order. Labels met only on tasks (model
// suggestions in binary or choice feeds) take the next free colours.
export function labelColors(labels) {
  const colors = new Map();
  const assign = (label) => {
    colors.set(label, LABEL_COLORS[colors.size % LABEL_COLORS.length]);
  };
  labels.forEach(assign);
  return (label) => {
    if (typeof label !== "string" || !label) return UNKNOWN_LABEL_COLOR;
    if (!colors.has(label)) assign(label);
    return colors.get(label);
  };
}

export function paint(node, label, colorFor) {
  const [background, foreground] = colorFor(label);
  node.style.setProperty("--span-bg", background);
  node.style.setProperty("--span-fg", foreground);
}

export class LabelBar {
  constructor(container, labels, colorFor) {
    this.container = container;
    this.labels = labels;
    this.colorFor = colorFor;
    this.active = 0;
    this.buttons = [];
    this.onSelect = null;
  }

  render() {
    this.container.hidden = false;
    this.container.replaceChildren();
    if (!this.labels.length) {
      this.container.append(element("p", "card-message", "This feed has no labels."));
    }
    this.buttons = this.labels.map((label, position) => {
      const button = element("button", "label-choice");
      button.type = "button";
      paint(button, label, this.colorFor);
      if (position < 9) {
        button.append(keyHint(String(position + 1)));
        button.setAttribute("aria-keyshortcuts", String(position + 1));
      }
      button.append(element("span", null, label));
      button.addEventListener("click", () => this.select(position));
      this.container.append(button);
      return button;
    });
    this.mark();
  }

  hide() {
    this.container.hidden = true;
  }

  select(position) {
    if (position < 0 || position >= this.labels.length) return;
    this.active = position;
    this.mark();
    if (this.onSelect) this.onSelect(this.labels[position]);
  }

  mark() {
    this.buttons.forEach((button, index) => {
      button.setAttribute("aria-pressed", index === this.active ? "true" : "false");
    });
  }

  current() {
    return this.labels[this.active] || null;
  }
}
