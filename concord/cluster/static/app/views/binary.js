// Accept or reject one label on a text, a suggested span or an image.

import { element } from "../dom.js";
import { taskContent, withMeta } from "./common.js";

export class BinaryView {
  constructor(task, context) {
    this.task = task;
    this.context = context;
  }

  render() {
    const fragment = document.createDocumentFragment();
    const label = this.task.label || this.context.feed.label;
    if (label) {
      const heading = element("p", "task-label");
      heading.append(element("span", "task-label-name", label));
      fragment.append(heading);
    }
    fragment.append(taskContent(this.task, this.context, this.task.spans));
    return withMeta(fragment, this.task);
  }

  answerFields() {
    return {};
  }

  restore() {}

  handleKey() {
    return false;
  }

  describe() {
    return this.task.label || this.context.feed.label || "";
  }
}
