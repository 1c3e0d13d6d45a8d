// Pieces every view shows: the task text with highlighted spans, the task's
// image, and its meta data.

import { element } from "../dom.js";
import { paint } from "../labels.js";
import { CodePointText, taskText } from "../text.js";

// Appends the text to `container`, wrapping each span in a <mark> with its
// label. Spans that overlap an earlier one or fall outside the text are
// skipped, because a flat rendering cannot nest them.
export function appendHighlightedText(container, text, spans, colorFor) {
  const index = new CodePointText(text);
  const ordered = (Array.isArray(spans) ? spans : [])
    .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end))
    .filter((s) => s.start >= 0 && s.start < s.end && s.end <= index.length)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  let cursor = 0;
  for (const span of ordered) {
    if (span.start < cursor) continue;
    container.append(index.slice(cursor, span.start));
    container.append(highlightMark(index.slice(span.start, span.end), span.label, colorFor));
    cursor = span.end;
  }
  container.append(index.slice(cursor, index.length));
}

function highlightMark(text, label, colorFor) {
  const mark = element("mark", "highlight", text);
  if (label) {
    paint(mark, label, colorFor);
    mark.append(element("span", "span-label", label));
  }
  return mark;
}

export function textBlock(task, spans, colorFor) {
  const block = element("div", "task-text");
  const text = taskText(task);
  if (!text) {
    block.classList.add("empty");
    block.textContent = "This task has no text to show.";
    return block;
  }
  appendHighlightedText(block, text, spans, colorFor);
  // Set after the children: see TokenView.finishRedraw for why.
  block.dir = "auto";
  return block;
}

// The task's text, or its image when it has no text.
export function taskContent(task, context, spans) {
  if (!taskText(task) && typeof task.image === "string") return imageBlock(task, context);
  return textBlock(task, spans, context.colorFor);
}

export function imageBlock(task, context) {
  const figure = element("figure", "task-figure");
  const image = element("img", "task-image");
  image.src = context.mediaUrl(task);
  image.alt = "The task's image";
  image.decoding = "async";
  image.addEventListener("error", () => {
    figure.replaceChildren(element("p", "card-message", "The image could not be loaded."));
  });
  figure.append(image);
  return figure;
}

export function metaLine(task) {
  const meta = task.meta;
  if (!meta || typeof meta !== "object") return null;
  const entries = Object.entries(meta).filter(([, value]) => value !== null);
  if (!entries.length) return null;
  const list = element("dl", "task-meta");
  for (const [key, value] of entries.slice(0, 8)) {
    list.append(element("dt", null, key));
    const display = typeof value === "object" ? JSON.stringify(value) : String(value);
    list.append(element("dd", null, display));
  }
  return list;
}

export function withMeta(fragment, task) {
  const meta = metaLine(task);
  if (meta) fragment.append(meta);
  return fragment;
}
