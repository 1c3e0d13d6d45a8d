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

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: "\u00a0" };

// Shows HTML as plain text without parsing it into elements: even an inert
// parse makes Chromium report the inline handlers of hostile markup to the
// page's Content Security Policy. Scripts, styles, comments and tags are
// dropped and the common character references decoded.
export function htmlToText(html) {
  return String(html)
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, decodeEntity);
}

function decodeEntity(match, name) {
  if (name[0] !== "#") return ENTITIES[name.toLowerCase()] ?? match;
  const hex = name[1] === "x" || name[1] === "X";
  const code = hex ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
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
