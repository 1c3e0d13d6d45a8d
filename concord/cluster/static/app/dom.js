// Small DOM helpers. Task data is untrusted, so it reaches the page only
// through textContent and DOM nodes built here, never through innerHTML.

const TOAST_MS = 3500;
let toastTimer = null;

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function keyHint(text) {
  return element("kbd", null, text);
}

export function plural(count, singular, pluralForm) {
  return `${count} ${count === 1 ? singular : pluralForm || singular + "s"}`;
}

export function showToast(message) {
  const toast = document.getElementById("toast");
  toast.textContent = message;
  toast.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    toast.hidden = true;
  }, TOAST_MS);
}

// True while the user types into a field, where letter keys are text.
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.closest("textarea, select")) return true;
  const input = target.closest("input");
  return Boolean(input) && !["button", "checkbox", "radio"].includes(input.type);
}

// A row of key hints such as "drag select · dbl-click word", shown under a view.
export function hintLine(hints) {
  const line = element("p", "view-hints");
  for (const [key, action] of hints) {
    const item = element("span", "view-hint");
    item.append(keyHint(key), ` ${action}`);
    line.append(item);
  }
  return line;
}
