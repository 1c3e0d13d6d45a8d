// Manual NER: token-snapped spans that never overlap, shown as marks.

import { element } from "../dom.js";
import { paint } from "../labels.js";
import { TokenView } from "./tokens.js";

export class NerView extends TokenView {
  conflict(start, end, _label, spans) {
    const clash = spans.find((span) => start <= span.tokenEnd && end >= span.tokenStart);
    if (!clash) return null;
    return `That selection overlaps the ${clash.label} span “${this.spanText(clash)}”. ` +
      "Remove that span first (×).";
  }

  beforeRedraw() {
    this.starting = new Map(this.spans.map((span) => [span.tokenStart, span]));
  }

  buildRange(parent, from, to) {
    let position = from;
    while (position < to) {
      const span = this.starting.get(position);
      position = span ? this.appendSpan(parent, span) : this.appendToken(parent, position);
    }
  }

  appendSpan(parent, span) {
    const mark = element("span", "span");
    paint(mark, span.label, this.context.colorFor);
    for (let position = span.tokenStart; position <= span.tokenEnd; position += 1) {
      this.appendToken(mark, position, position < span.tokenEnd);
    }
    mark.append(element("span", "span-label", span.label));
    mark.append(this.removeButton(span));
    parent.append(mark);
    const next = this.tokens[span.tokenEnd + 1];
    if (next) parent.append(this.text.slice(this.tokens[span.tokenEnd].end, next.start));
    return span.tokenEnd + 1;
  }
}
