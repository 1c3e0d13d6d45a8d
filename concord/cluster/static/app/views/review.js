// Review: the distinct versions annotators gave for one example, each with
// who gave it. The reviewer shows one version (v), edits it where the
// reviewed interface allows it (spans, choices), and accepts it, or rejects
// the example.

import { element, keyHint } from "../dom.js";
import { CodePointText } from "../text.js";
import { BinaryView } from "./binary.js";
import { ChoiceView, optionText } from "./choice.js";
import { taskContent, withMeta } from "./common.js";
import { ImageView, boxesFrom } from "./image.js";
import { NerView } from "./ner.js";
import { SpansView } from "./spans.js";

const SUMMARY_LENGTH = 140;
const EDITABLE = ["choice", "ner_manual", "spans_manual"];

// Shows the task and one version's text answer, which a review cannot edit.
class TextAnswerView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
  }

  render() {
    const fragment = document.createDocumentFragment();
    fragment.append(taskContent(this.task, this.context, this.task.spans));
    const block = element("div", "answer-field");
    block.append(element("p", "answer-label", this.context.feed.field_label || "Answer"));
    const answer = element("blockquote", "answer-quote", this.task.user_input || "");
    answer.dir = "auto";
    block.append(answer);
    fragment.append(block);
    return withMeta(fragment, this.task);
  }

  describe() {
    return `“${String(this.task.user_input || "").slice(0, 60)}”`;
  }
}

export class ReviewView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
    this.interface = context.feed.reviewed_interface || "binary";
    this.versions = Array.isArray(task.versions) ? task.versions : [];
    this.current = Math.max(0, this.versions.findIndex((version) => version.default));
    this.edited = false;
    this.inner = null;
    this.cards = [];
  }

  get usesLabelBar() {
    return this.interface === "ner_manual" || this.interface === "spans_manual";
  }

  render() {
    const fragment = document.createDocumentFragment();
    fragment.append(this.versionPanel());
    this.editor = element("div", "review-editor");
    fragment.append(this.editor);
    if (this.versions.length) this.show(this.current);
    return fragment;
  }

  versionPanel() {
    const panel = element("section", "versions");
    const heading = element("h2", "versions-title", `Versions (${this.versions.length})`);
    heading.id = "versions-title";
    const hint = element("span", "versions-hint");
    const next = element("span", null);
    next.append(keyHint("v"), " next");
    const previous = element("span", null);
    previous.append(keyHint("shift + v"), " previous");
    hint.append(next, previous);
    heading.append(hint);
    const group = element("div", "version-cards");
    group.setAttribute("role", "radiogroup");
    group.setAttribute("aria-labelledby", "versions-title");
    this.cards = this.versions.map((version, index) => this.card(version, index));
    group.append(...this.cards);
    if (!this.versions.length) {
      group.append(element("p", "card-message", "No annotator has answered this example."));
    }
    panel.append(heading, group);
    return panel;
  }

  card(version, index) {
    const card = element("button", `version answer-${version.answer}`);
    card.type = "button";
    card.setAttribute("role", "radio");
    card.setAttribute("aria-keyshortcuts", "v");
    const head = element("span", "version-head");
    head.append(
      element("span", "version-number", `Version ${index + 1}`),
      element("span", "version-answer", version.answer),
    );
    if (this.isMostCommon(index)) {
      head.append(element("span", "version-default", "most common"));
    }
    const who = (version.annotators || version.sessions || []).join(", ");
    card.append(
      head,
      element("span", "version-who", `by ${who || "unknown"}`),
      element("span", "version-summary", this.summary(version)),
      element("span", "version-edited", "edited"),
    );
    card.addEventListener("click", () => this.show(index));
    return card;
  }

  // The server marks its first version `default`; it is also the most
  // common one only when no other version has as many annotators.
  isMostCommon(index) {
    const count = (version) => (version.annotators || version.sessions || []).length;
    const mine = count(this.versions[index]);
    return this.versions.every((version, other) => other === index || count(version) < mine);
  }

  summary(version) {
    let text;
    if (this.interface === "ner_manual" || this.interface === "spans_manual") {
      const source = new CodePointText(typeof this.task.text === "string" ? this.task.text : "");
      const spans = version.spans || [];
      text = spans.length
        ? spans.map((span) => `${span.label}: ${source.slice(span.start, span.end)}`).join(", ")
        : "no spans";
    } else if (this.interface === "choice") {
      const options = this.context.feed.options?.length
        ? this.context.feed.options
        : (this.task.options || []);
      const names = (version.accept || []).map((id) => {
        const option = options.find((item) => String(item.id) === String(id));
        return option ? optionText(option) : String(id);
      });
      text = names.length ? names.join(", ") : "no option chosen";
    } else if (this.interface === "text_input") {
      text = `“${version.user_input || ""}”`;
    } else if (this.interface === "image_manual") {
      const boxes = version.spans || [];
      text = `${boxes.length} ${boxes.length === 1 ? "box" : "boxes"}` +
        (boxes.length ? `: ${boxes.map((box) => box.label).join(", ")}` : "");
    } else {
      text = `${version.answer} ${this.task.label || this.context.feed.label || ""}`.trim();
    }
    return text.length > SUMMARY_LENGTH ? `${text.slice(0, SUMMARY_LENGTH)}…` : text;
  }

  // Shows version `index` in the editor; edits made to another one are dropped.
  show(index) {
    const version = this.versions[index];
    if (!version) return;
    this.current = index;
    this.cards.forEach((card, position) => {
      card.setAttribute("aria-checked", position === index ? "true" : "false");
    });
    this.inner?.detach?.();
    this.inner = this.innerView(version);
    this.editor.replaceChildren(this.inner.render());
    if (this.interface === "choice") this.inner.restore({ accept: version.accept || [] });
    this.setEdited(false);
  }

  innerView(version) {
    const task = { ...this.task, spans: version.spans, user_input: version.user_input };
    const context = {
      ...this.context,
      feed: { ...this.context.feed, interface: this.interface },
      changed: () => this.setEdited(true),
    };
    if (this.interface === "ner_manual") return new NerView(task, context);
    if (this.interface === "spans_manual") return new SpansView(task, context);
    if (this.interface === "choice") return new ChoiceView(task, context);
    if (this.interface === "image_manual") return new ImageView(task, context, { readOnly: true });
    if (this.interface === "text_input") return new TextAnswerView(task, context);
    return new BinaryView({ ...this.task }, context);
  }

  setEdited(edited) {
    this.edited = edited;
    this.cards.forEach((card, position) => {
      card.classList.toggle("is-edited", edited && position === this.current);
    });
  }

  answerFields() {
    const version = this.versions[this.current];
    if (!version) return {};
    if (EDITABLE.includes(this.interface)) return this.inner.answerFields();
    if (this.interface === "text_input") return { user_input: version.user_input || "" };
    if (this.interface === "image_manual") return { spans: boxesFrom(version.spans) };
    return {};
  }

  restore(body) {
    if (EDITABLE.includes(this.interface)) {
      this.inner?.restore(body);
      this.setEdited(true);
      return;
    }
    const wanted = JSON.stringify(this.pickOnlyFields(body));
    const index = this.versions.findIndex(
      (version) => JSON.stringify(this.pickOnlyFields(version)) === wanted,
    );
    if (index >= 0) this.show(index);
  }

  pickOnlyFields(source) {
    if (this.interface === "text_input") return source.user_input || "";
    return boxesFrom(source.spans);
  }

  handleKey(event) {
    if (event.key === "v" || event.key === "V") {
      const step = event.shiftKey ? -1 : 1;
      const count = this.versions.length;
      if (count) this.show((this.current + step + count) % count);
      return true;
    }
    return this.inner?.handleKey ? this.inner.handleKey(event) : false;
  }

  labelSelected(label) {
    this.inner?.labelSelected?.(label);
  }

  focus() {
    this.inner?.focus?.();
  }

  detach() {
    this.inner?.detach?.();
  }

  describe() {
    if (!this.versions.length) return "";
    const edited = this.edited ? ", edited" : "";
    const detail = this.inner?.describe ? this.inner.describe() : "";
    return `version ${this.current + 1}${edited}${detail ? `: ${detail}` : ""}`;
  }
}
