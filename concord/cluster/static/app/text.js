// Task text and code point offsets.
//
// Offsets from the server are Python code points, but JavaScript strings
// index UTF-16 code units, which differ for characters outside the BMP (most
// emoji). CodePointText maps code point offsets to UTF-16 indices once per
// text, so no UTF-16 index ever reaches an answer.

const SNIPPET_LENGTH = 90;

export class CodePointText {
  constructor(text) {
    this.text = text;
    this.unitOffsets = [0];
    let units = 0;
    for (const char of text) {
      units += char.length;
      this.unitOffsets.push(units);
    }
  }

  get length() {
    return this.unitOffsets.length - 1;
  }

  unitIndex(codePoint) {
    const clamped = Math.max(0, Math.min(codePoint, this.length));
    return this.unitOffsets[clamped];
  }

  slice(start, end) {
    return this.text.slice(this.unitIndex(start), this.unitIndex(end));
  }
}

export function taskText(task) {
  if (typeof task.text === "string") return task.text;
  if (typeof task.html === "string") return htmlToText(task.html);
  return "";
}

// DOMParser builds an inert document: scripts do not run and resources are
// not fetched, so reading its textContent is a safe way to show HTML as text.
export function htmlToText(html) {
  const parsed = new DOMParser().parseFromString(String(html), "text/html");
  return parsed.body.textContent || "";
}

export function snippet(task) {
  const source = typeof task.snippet === "string" ? task.snippet : taskText(task);
  // A long document needs only its start; four units per character are plenty.
  const start = source.slice(0, SNIPPET_LENGTH * 4);
  const chars = Array.from(start.replace(/\s+/g, " ").trim());
  if (chars.length <= SNIPPET_LENGTH) return chars.join("");
  return chars.slice(0, SNIPPET_LENGTH).join("") + "…";
}

export function codePointLength(text) {
  let count = 0;
  for (const _char of text) count += 1;
  return count;
}
