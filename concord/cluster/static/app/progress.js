// The progress line and the reason shown when no task is left.

import { plural } from "./dom.js";

export function renderProgress(progress) {
  if (!progress) return;
  const mine = progress.mine || {};
  const total = Number(progress.examples_total) || 0;
  const done = Number(progress.examples_done) || 0;
  document.getElementById("progress-text").textContent =
    `You: ${mine.answers ?? 0} answered · Feed: ${done}/${total}`;
  const share = total ? Math.min(100, (100 * done) / total) : 0;
  document.getElementById("progress-fill").style.width = `${share}%`;
  const bar = document.getElementById("progress-bar");
  bar.setAttribute("aria-valuenow", String(done));
  bar.setAttribute("aria-valuemax", String(total));
}

export function doneReason(feed, progress, pendingCount, serverReason) {
  const parts = [];
  if (serverReason === "quota" && feed.quota) {
    parts.push(
      `You have answered your quota of ${plural(feed.quota, "task")} in this feed. ` +
        "Thank you!",
    );
  } else if (!progress) {
    parts.push("The progress of the feed could not be loaded. Try Refresh.");
  } else if (!progress.examples_total) {
    parts.push(
      feed.interface === "review"
        ? "There are no answers to review yet. Check back when annotators have answered."
        : "This feed has no examples yet. Check back later.",
    );
  } else if (progress.examples_done >= progress.examples_total) {
    parts.push(`All ${progress.examples_total} examples in this feed are done.`);
  } else {
    const left = progress.examples_total - progress.examples_done;
    const mine = progress.mine && progress.mine.answers;
    const opening = mine
      ? `You have answered every task open to you. The other ${plural(left, "example")}`
      : `No task is open to you right now. The ${plural(left, "example")} left`;
    parts.push(
      `${opening} wait for other annotators, or others hold leases on them. Check back ` +
        "later: a lease that is not answered in time expires and frees its task.",
    );
  }
  if (pendingCount) {
    const waiting = plural(pendingCount, "answer");
    parts.push(`${waiting} still waiting to be sent: keep this page open.`);
  }
  return parts.join(" ");
}
