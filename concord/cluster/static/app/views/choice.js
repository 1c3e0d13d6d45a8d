// One or several options, from the feed or from the task, with number keys.

import { element, keyHint } from "../dom.js";
import { htmlToText } from "../text.js";
import { taskContent, withMeta } from "./common.js";

// The answers route takes option ids as strings, whatever type the task used.
export function optionId(option) {
  return String(option.id);
}

export function optionText(option) {
  if (typeof option.text === "string" && option.text) return option.text;
  if (typeof option.html === "string") return htmlToText(option.html);
  return String(option.id);
}

export class ChoiceView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
    const feedOptions = context.feed.options;
    this.options = Array.isArray(feedOptions) && feedOptions.length
      ? feedOptions
      : (Array.isArray(task.options) ? task.options : []);
    this.multiple = Boolean(context.feed.multiple);
    this.selected = new Set();
    this.buttons = [];
  }

  render() {
    const fragment = document.createDocumentFragment();
    if (this.task.label) fragment.append(element("p", "task-question", this.task.label));
    fragment.append(taskContent(this.task, this.context, this.task.spans));
    fragment.append(this.renderOptions());
    return withMeta(fragment, this.task);
  }

  renderOptions() {
    const group = element("div", this.multiple ? "options" : "options single");
    group.setAttribute("role", "group");
    group.setAttribute(
      "aria-label",
      this.multiple ? "Options: choose any (keys 1 to 9)" : "Options: choose one (keys 1 to 9)",
    );
    if (!this.options.length) {
      group.append(element("p", "card-message", "This task has no options."));
    }
    this.buttons = this.options.map((option, position) => {
      const button = this.optionButton(option, position);
      group.append(button);
      return button;
    });
    this.syncButtons();
    return group;
  }

  optionButton(option, position) {
    const button = element("button", "option");
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    if (position < 9) {
      button.append(keyHint(String(position + 1)));
      button.setAttribute("aria-keyshortcuts", String(position + 1));
    }
    const check = element("span", "option-check");
    check.setAttribute("aria-hidden", "true");
    button.append(check, element("span", "option-text", optionText(option)));
    button.addEventListener("click", () => this.toggle(position));
    return button;
  }

  toggle(position) {
    const option = this.options[position];
    if (!option) return;
    const id = optionId(option);
    if (this.selected.has(id)) {
      this.selected.delete(id);
    } else {
      if (!this.multiple) this.selected.clear();
      this.selected.add(id);
    }
    this.syncButtons();
    this.context.changed();
  }

  syncButtons() {
    this.buttons.forEach((button, position) => {
      const chosen = this.selected.has(optionId(this.options[position]));
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  answerFields() {
    // Keep the options' order so the stored list does not depend on clicks.
    const accept = this.options.map(optionId).filter((id) => this.selected.has(id));
    return { accept };
  }

  restore(body) {
    this.selected = new Set(Array.isArray(body.accept) ? body.accept.map(String) : []);
    this.syncButtons();
  }

  handleKey(event) {
    if (!/^[1-9]$/.test(event.key)) return false;
    this.toggle(Number(event.key) - 1);
    return true;
  }

  describe() {
    const chosen = this.options.filter((option) => this.selected.has(optionId(option)));
    return chosen.map(optionText).join(", ");
  }
}
