// Manual spans: token-snapped spans that may overlap (span categorisation).
// Each span is a coloured underline in its own lane under the text, and its
// label follows its last token. The list under the text removes spans.

import { element } from "../dom.js";
import { paint } from "../labels.js";
import { TokenView } from "./tokens.js";

const LANE_PX = 6;
const BAR_PX = 4;

// Gives each span the lowest lane free over all its tokens.
function assignLanes(spans) {
  const laneEnds = [];
  return spans.map((span) => {
    let lane = laneEnds.findIndex((end) => end < span.tokenStart);
    if (lane === -1) lane = laneEnds.length;
    laneEnds[lane] = span.tokenEnd;
    return lane;
  });
}

export class SpansView extends TokenView {
  conflict(start, end, label, spans) {
    const twin = spans.find(
      (span) => span.tokenStart === start && span.tokenEnd === end && span.label === label,
    );
    return twin ? `That ${label} span is already there.` : null;
  }

  render() {
    const fragment = super.render();
    this.container.classList.add("spans-view");
    return fragment;
  }

  renderExtras(fragment) {
    this.list = element("ul", "span-list");
    this.list.setAttribute("aria-label", "Spans");
    fragment.append(this.list);
    this.renderList();
  }

  beforeRedraw() {
    const lanes = assignLanes(this.spans);
    this.laneCount = Math.max(0, ...lanes) + (lanes.length ? 1 : 0);
    this.cover = this.tokens.map(() => []);
    this.endings = new Map();
    this.spans.forEach((span, index) => {
      for (let position = span.tokenStart; position <= span.tokenEnd; position += 1) {
        this.cover[position][lanes[index]] = span;
      }
      if (!this.endings.has(span.tokenEnd)) this.endings.set(span.tokenEnd, []);
      this.endings.get(span.tokenEnd).push(span);
    });
    this.container.style.setProperty("--lanes", String(this.laneCount));
  }

  buildRange(parent, from, to) {
    for (let position = from; position < to; position += 1) {
      this.appendToken(parent, position, false);
      this.underline(this.tokenElements[position], this.cover[position], this.laneCount);
      for (const span of this.endings.get(position) || []) parent.append(this.tag(span));
      this.appendGap(parent, position, this.cover, this.laneCount);
    }
  }

  afterRedraw() {
    this.renderList();
  }

  // The text between two tokens is underlined in the lanes of the spans that
  // cover both of them.
  appendGap(parent, position, cover, laneCount) {
    const next = this.tokens[position + 1];
    if (!next) return;
    const gapText = this.text.slice(this.tokens[position].end, next.start);
    const shared = cover[position].map((span, lane) =>
      cover[position + 1][lane] === span ? span : undefined);
    if (!shared.some(Boolean)) {
      parent.append(gapText);
      return;
    }
    const gap = element("span", "gap", gapText);
    this.underline(gap, shared, laneCount);
    parent.append(gap);
  }

  underline(node, lanes, laneCount) {
    if (!lanes.some(Boolean)) return;
    const images = [];
    const positions = [];
    for (let lane = 0; lane < laneCount; lane += 1) {
      const span = lanes[lane];
      if (!span) continue;
      const color = this.context.colorFor(span.label)[1];
      images.push(`linear-gradient(${color}, ${color})`);
      positions.push(`left 0 bottom ${(laneCount - 1 - lane) * LANE_PX}px`);
    }
    node.classList.add("covered");
    node.style.backgroundImage = images.join(", ");
    node.style.backgroundPosition = positions.join(", ");
    node.style.backgroundSize = `100% ${BAR_PX}px`;
    node.style.backgroundRepeat = "no-repeat";
  }

  tag(span) {
    const tag = element("span", "span-tag", span.label);
    tag.setAttribute("aria-hidden", "true");
    paint(tag, span.label, this.context.colorFor);
    return tag;
  }

  renderList() {
    if (!this.list) return;
    this.list.replaceChildren();
    if (!this.spans.length) {
      this.list.append(element("li", "span-list-empty", "No spans yet."));
    }
    for (const span of this.spans) {
      const item = element("li", "span-item");
      const label = element("span", "span-item-label", span.label);
      paint(label, span.label, this.context.colorFor);
      const text = element("span", "span-item-text", this.spanText(span));
      text.dir = "auto";
      item.append(label, text, this.removeButton(span));
      this.list.append(item);
    }
  }
}
