// The list of recent answers under the task, newest first.

import { element } from "./dom.js";
import { snippet } from "./text.js";

const HISTORY_SIZE = 10;

export class History {
  constructor(list, counter) {
    this.list = list;
    this.counter = counter;
    this.items = [];
  }

  remember(entry, description) {
    this.items.unshift({ entry, description, state: "sending" });
    this.items.length = Math.min(this.items.length, HISTORY_SIZE);
    this.render();
  }

  forget(answerId) {
    const found = this.find(answerId);
    this.items = this.items.filter((item) => item !== found);
    this.render();
    return found ? found.entry : null;
  }

  mark(answerId, state) {
    const item = this.find(answerId);
    if (item) item.state = state;
    this.render();
  }

  find(answerId) {
    return this.items.find((item) => item.entry.body.answer_id === answerId) || null;
  }

  render() {
    this.list.replaceChildren(...this.items.map(historyItem));
    this.counter.textContent = `(${this.items.length})`;
  }
}

function historyItem(item) {
  const { body, task } = item.entry;
  const row = element("li", `history-item answer-${body.answer}`);
  row.append(
    element("span", "history-answer", body.answer),
    element("span", "history-text", snippet(task)),
  );
  if (item.description) row.append(element("span", "history-detail", item.description));
  row.append(element("span", "history-state", item.state));
  return row;
}
