// The view of each interface. A view renders one task into the card and
// answers these calls from the page:
//   render()          the task's nodes
//   answerFields()    the fields this interface adds to an answer
//   restore(body)     show an answer given earlier (after an undo)
//   handleKey(event)  true if the view used a key the page passed on
//   describe()        a short summary for the list of recent answers
// and, where they apply: usesLabelBar, focus(), problem() (a reason the
// answer cannot be sent yet), labelSelected(label) and detach().

import { BinaryView } from "./binary.js";
import { ChoiceView } from "./choice.js";
import { ImageView } from "./image.js";
import { NerView } from "./ner.js";
import { ReviewView } from "./review.js";
import { SpansView } from "./spans.js";
import { TextInputView } from "./text_input.js";

export const VIEWS = {
  binary: BinaryView,
  choice: ChoiceView,
  ner_manual: NerView,
  spans_manual: SpansView,
  text_input: TextInputView,
  image_manual: ImageView,
  review: ReviewView,
};
