// Rectangles on an image: draw, move, resize, relabel and remove them with
// the mouse, touch or the keyboard.
//
// Boxes are kept in pixels of the image as stored, whatever size the page
// shows it at, and drawn in percentages of its size. The server gives the
// image's size in the task's `width` and `height`.

import { element, hintLine, showToast } from "../dom.js";
import { paint } from "../labels.js";
import { withMeta } from "./common.js";

// Boxes smaller than this on screen come from a click, not a drag.
const MIN_BOX_SCREEN_PX = 4;
const KEY_STEP_SCREEN_PX = 4;
const CORNERS = ["nw", "ne", "sw", "se"];
const ARROW_STEPS = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

export function boxesFrom(spans) {
  return (Array.isArray(spans) ? spans : [])
    .filter((span) => ["x", "y", "width", "height"].every((key) => Number.isFinite(span[key])))
    .map((span) => ({
      label: span.label,
      x: span.x,
      y: span.y,
      width: span.width,
      height: span.height,
    }));
}

export class ImageView {
  constructor(task, context, options = {}) {
    this.task = task;
    this.context = context;
    this.readOnly = Boolean(options.readOnly);
    this.width = Number.isInteger(task.width) && task.width > 0 ? task.width : null;
    this.height = Number.isInteger(task.height) && task.height > 0 ? task.height : null;
    this.boxes = boxesFrom(task.spans);
    this.selected = null;
    this.gesture = null;
    this.draft = null;
  }

  get usesLabelBar() {
    return !this.readOnly;
  }

  render() {
    const fragment = document.createDocumentFragment();
    if (!this.width || !this.height) {
      fragment.append(element(
        "p",
        "card-message warning",
        "The cluster could not read this task's image, so boxes cannot be drawn on " +
          "it. Ignore the task and tell the feed's manager.",
      ));
    }

    const frame = element("div", "image-frame");
    this.stage = element("div", "image-stage");
    this.image = element("img", "stage-image");
    this.image.src = this.context.mediaUrl(this.task);
    this.image.alt = "The task's image";
    this.image.draggable = false;
    this.image.addEventListener("error", () => this.stage.classList.add("broken"));
    this.layer = element("div", "box-layer");
    this.stage.append(this.image, this.layer);
    frame.append(this.stage);
    fragment.append(frame);
    if (!this.readOnly) this.bindEditing();

    this.list = element("ul", "box-list");
    this.list.setAttribute("aria-label", "Boxes");
    fragment.append(this.list);
    if (!this.readOnly) {
      fragment.append(hintLine([
        ["drag", "draw"], ["b", "add"], ["n", "next"], ["arrows", "move"],
        ["shift + arrows", "resize"], ["del", "remove"], ["1–9", "label"],
      ]));
    }
    this.redraw();
    return withMeta(fragment, this.task);
  }

  bindEditing() {
    this.stage.tabIndex = 0;
    this.stage.setAttribute(
      "aria-label",
      "Image. Drag to draw a box with the active label. Press b to add a box, n to " +
        "select the next box, arrows to move it, shift and arrows to resize it.",
    );
    this.stage.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    this.stage.addEventListener("pointermove", (event) => this.onPointerMove(event));
    this.stage.addEventListener("pointerup", (event) => this.onPointerUp(event));
    this.stage.addEventListener("pointercancel", () => this.cancelGesture());
  }

  redraw() {
    const hadFocus = this.layer.contains(document.activeElement);
    const nodes = this.boxes.map((box, index) => this.boxElement(box, index));
    if (this.draft) nodes.push(this.draftElement(this.draft));
    this.layer.replaceChildren(...nodes);
    this.renderList();
    if (hadFocus) this.focusSelected();
  }

  place(node, box) {
    node.style.left = `${(100 * box.x) / this.width}%`;
    node.style.top = `${(100 * box.y) / this.height}%`;
    node.style.width = `${(100 * box.width) / this.width}%`;
    node.style.height = `${(100 * box.height) / this.height}%`;
  }

  boxElement(box, index) {
    const node = element("div", "box");
    node.dataset.index = String(index);
    paint(node, box.label, this.context.colorFor);
    this.place(node, box);
    node.append(element("span", "box-tag", box.label));
    node.setAttribute("aria-label", `${box.label} box ${index + 1}: ${describeBox(box)}`);
    if (this.readOnly) return node;
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.addEventListener("focus", () => this.select(index, false));
    decorate(node, index === this.selected);
    return node;
  }

  draftElement(box) {
    const node = element("div", "box draft");
    paint(node, box.label, this.context.colorFor);
    this.place(node, box);
    return node;
  }

  renderList() {
    this.list.replaceChildren();
    if (!this.boxes.length) this.list.append(element("li", "span-list-empty", "No boxes yet."));
    this.boxes.forEach((box, index) => {
      const item = element("li", "span-item");
      if (index === this.selected) item.classList.add("selected");
      const label = element("span", "span-item-label", box.label);
      paint(label, box.label, this.context.colorFor);
      item.append(label, element("span", "span-item-text", describeBox(box)));
      if (!this.readOnly) item.append(this.removeButton(index));
      this.list.append(item);
    });
  }

  removeButton(index) {
    const box = this.boxes[index];
    const button = element("button", "span-remove", "×");
    button.type = "button";
    button.setAttribute("aria-label", `Remove ${box.label} box ${index + 1}`);
    button.addEventListener("click", () => this.remove(index));
    return button;
  }

  // ------------------------------------------------------------ pointer

  point(event) {
    const rect = this.image.getBoundingClientRect();
    return {
      x: clamp(((event.clientX - rect.left) / rect.width) * this.width, 0, this.width),
      y: clamp(((event.clientY - rect.top) / rect.height) * this.height, 0, this.height),
    };
  }

  screenScale() {
    const rect = this.image.getBoundingClientRect();
    return rect.width ? rect.width / this.width : 1;
  }

  onPointerDown(event) {
    if (event.button !== 0 || !this.width || !this.height) return;
    const target = event.target instanceof Element ? event.target : null;
    const boxNode = target ? target.closest(".box") : null;
    const start = this.point(event);
    event.preventDefault();
    this.stage.setPointerCapture(event.pointerId);
    if (boxNode && !boxNode.classList.contains("draft")) {
      const index = Number(boxNode.dataset.index);
      const corner = target.dataset.corner || null;
      this.select(index, true);
      this.gesture = { kind: corner ? "resize" : "move", index, corner, start,
        original: { ...this.boxes[index] } };
      return;
    }
    this.stage.focus({ preventScroll: true });
    const label = this.context.activeLabel();
    if (!label) {
      showToast("Pick a label first: this feed has no labels configured.");
      return;
    }
    this.gesture = { kind: "draw", start, label };
  }

  onPointerMove(event) {
    const gesture = this.gesture;
    if (!gesture) return;
    const point = this.point(event);
    if (gesture.kind === "draw") {
      this.draft = { label: gesture.label, ...spanning(gesture.start, point) };
      this.redraw();
    } else if (gesture.kind === "move") {
      this.moveTo(gesture, point);
    } else {
      this.resizeTo(gesture, point);
    }
  }

  moveTo(gesture, point) {
    const box = this.boxes[gesture.index];
    const { original, start } = gesture;
    box.x = Math.round(clamp(original.x + point.x - start.x, 0, this.width - box.width));
    box.y = Math.round(clamp(original.y + point.y - start.y, 0, this.height - box.height));
    this.redraw();
  }

  resizeTo(gesture, point) {
    const { original, corner } = gesture;
    const fixed = {
      x: corner.includes("w") ? original.x + original.width : original.x,
      y: corner.includes("n") ? original.y + original.height : original.y,
    };
    const rect = spanning(fixed, point);
    Object.assign(this.boxes[gesture.index], {
      ...rect, width: Math.max(1, rect.width), height: Math.max(1, rect.height),
    });
    this.redraw();
  }

  onPointerUp() {
    const gesture = this.gesture;
    this.gesture = null;
    if (!gesture) return;
    if (gesture.kind === "draw") {
      const draft = this.draft;
      this.draft = null;
      const scale = this.screenScale();
      if (draft && Math.min(draft.width, draft.height) * scale >= MIN_BOX_SCREEN_PX) {
        this.boxes.push(draft);
        this.selected = this.boxes.length - 1;
      }
    }
    this.redraw();
    this.context.changed();
  }

  cancelGesture() {
    if (this.gesture && this.gesture.kind !== "draw") {
      Object.assign(this.boxes[this.gesture.index], this.gesture.original);
    }
    this.gesture = null;
    this.draft = null;
    this.redraw();
  }

  // ------------------------------------------------------------ keyboard

  // Changing the selection keeps the box elements, so keyboard focus stays put.
  select(index, focus) {
    if (index !== this.selected) {
      this.selected = index;
      for (const node of this.layer.querySelectorAll(".box:not(.draft)")) {
        decorate(node, Number(node.dataset.index) === index);
      }
      [...this.list.children].forEach((item, position) => {
        item.classList.toggle("selected", position === index);
      });
    }
    if (focus) this.focusSelected();
  }

  focusSelected() {
    const node = this.layer.querySelector(`.box[data-index="${this.selected}"]`);
    if (node) node.focus({ preventScroll: true });
  }

  handleKey(event) {
    if (this.readOnly) return false;
    if (/^[1-9]$/.test(event.key)) {
      this.context.selectLabel(Number(event.key) - 1);
      return true;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const actions = {
      b: () => this.addCentred(),
      n: () => this.selectNext(),
      Delete: () => this.remove(this.selected),
      Escape: () => this.select(null, false),
    };
    if (ARROW_STEPS[key]) return this.nudge(key, event.shiftKey);
    if (!actions[key] || !this.width) return false;
    if ((key === "Delete" || key === "Escape") && this.selected === null) return false;
    actions[key]();
    return true;
  }

  addCentred() {
    const label = this.context.activeLabel();
    if (!label) return;
    const width = Math.max(1, Math.round(this.width / 4));
    const height = Math.max(1, Math.round(this.height / 4));
    const x = Math.round((this.width - width) / 2);
    const y = Math.round((this.height - height) / 2);
    this.boxes.push({ label, x, y, width, height });
    this.selected = this.boxes.length - 1;
    this.redraw();
    this.focusSelected();
    this.context.changed();
  }

  selectNext() {
    if (!this.boxes.length) return;
    const next = this.selected === null ? 0 : (this.selected + 1) % this.boxes.length;
    this.select(next, true);
  }

  // Arrows move the selected box; with shift they move its right or bottom edge.
  nudge(key, resize) {
    if (this.selected === null) return false;
    const box = this.boxes[this.selected];
    const step = Math.max(1, Math.round(KEY_STEP_SCREEN_PX / this.screenScale()));
    const [dx, dy] = ARROW_STEPS[key].map((sign) => sign * step);
    if (resize) {
      box.width = clamp(box.width + dx, 1, this.width - box.x);
      box.height = clamp(box.height + dy, 1, this.height - box.y);
    } else {
      box.x = clamp(box.x + dx, 0, this.width - box.width);
      box.y = clamp(box.y + dy, 0, this.height - box.height);
    }
    this.redraw();
    this.focusSelected();
    this.context.changed();
    return true;
  }

  remove(index) {
    if (index === null || !this.boxes[index]) return;
    this.boxes.splice(index, 1);
    this.selected = null;
    this.redraw();
    this.stage.focus({ preventScroll: true });
    this.context.changed();
  }

  labelSelected(label) {
    if (this.selected === null || !this.boxes[this.selected]) return;
    this.boxes[this.selected].label = label;
    this.redraw();
    this.focusSelected();
    this.context.changed();
  }

  // ------------------------------------------------------------ answers

  answerFields() {
    return {
      spans: this.boxes.map(({ label, x, y, width, height }) => ({ label, x, y, width, height })),
    };
  }

  restore(body) {
    this.boxes = boxesFrom(body.spans);
    this.selected = null;
    if (this.layer) this.redraw();
  }

  describe() {
    if (!this.boxes.length) return "no boxes";
    return `${this.boxes.length} ${this.boxes.length === 1 ? "box" : "boxes"}: ` +
      this.boxes.map((box) => box.label).join(", ");
  }
}

function decorate(node, selected) {
  node.classList.toggle("selected", selected);
  node.setAttribute("aria-pressed", selected ? "true" : "false");
  for (const handle of node.querySelectorAll(".box-handle")) handle.remove();
  if (!selected) return;
  for (const corner of CORNERS) {
    const handle = element("span", `box-handle ${corner}`);
    handle.dataset.corner = corner;
    node.append(handle);
  }
}

// The rectangle between two points, in whole pixels.
function spanning(a, b) {
  const x = Math.round(Math.min(a.x, b.x));
  const y = Math.round(Math.min(a.y, b.y));
  return {
    x,
    y,
    width: Math.round(Math.max(a.x, b.x)) - x,
    height: Math.round(Math.max(a.y, b.y)) - y,
  };
}

export function describeBox(box) {
  return `x ${box.x}, y ${box.y}, ${box.width} × ${box.height} px`;
}
