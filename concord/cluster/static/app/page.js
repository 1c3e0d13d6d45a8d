// The annotation page: shows one leased task at a time in the feed's
// interface, sends each answer at once, and keeps the progress, the recent
// answers and the pending answers in view.

import { createApi } from "./api.js";
import { dialogOpen, fillInstructions, toggleDialog } from "./dialogs.js";
import { isTyping, plural, showToast } from "./dom.js";
import { History } from "./history.js";
import { fillHelp } from "./keys.js";
import { LabelBar, labelColors } from "./labels.js";
import { Outbox, newAnswerId } from "./outbox.js";
import { doneReason, renderProgress } from "./progress.js";
import { TaskQueue } from "./queue.js";
import { TabChannel } from "./tabs.js";
import { VIEWS } from "./views/index.js";

const PROGRESS_INTERVAL_MS = 1500;
const PROGRESS_POLL_MS = 30000;
const RELOAD_BASE_MS = 1000;
const RELOAD_MAX_MS = 15000;
// Renewing leases three times per lease period keeps them through a slow
// request or two.
const HEARTBEATS_PER_LEASE = 3;
const MIN_HEARTBEAT_MS = 5000;

function byId(id) {
  return document.getElementById(id);
}

function expireSession(reauthUrl) {
  if (reauthUrl) {
    window.location.assign(reauthUrl);
  } else {
    showToast("Your session expired. Sign in again from the projects page.");
  }
}

export class AnnotationPage {
  constructor(config) {
    this.config = config;
    this.feed = config.feed;
    this.api = createApi(config.reauthUrl, expireSession);
    this.queue = new TaskQueue(this.api, config.base);
    this.history = new History(byId("history-list"), byId("history-count"));
    this.current = null;
    this.undoing = false;
    this.progressTimer = null;
    this.progressLast = 0;
    this.lastProgress = null;
    this.doneShown = false;
    this.reloadTimer = null;
    this.reloadFailures = 0;

    const labels = Array.isArray(this.feed.labels) ? this.feed.labels : [];
    this.colorFor = labelColors(labels);
    this.labelBar = new LabelBar(byId("label-bar"), labels, this.colorFor);
    this.labelBar.onSelect = (label) => this.current?.view.labelSelected?.(label);
    const owner = `${this.feed.id}:${config.userId}`;
    this.outbox = new Outbox(this.api, config.base, `concord:answer:${owner}:`, {
      onChange: (count) => this.showPending(count),
      onStored: (entry, duplicate) => this.markStored(entry, duplicate),
      onRejected: (entry, error) => this.answerRejected(entry, error),
      onRetry: (seconds) => this.showPending(this.outbox.entries.length, seconds),
    });
    this.tabs = new TabChannel(`concord:${owner}`, (taskHash) => this.answeredElsewhere(taskHash));
    this.viewContext = {
      feed: this.feed,
      colorFor: this.colorFor,
      activeLabel: () => this.labelBar.current(),
      selectLabel: (position) => this.labelBar.select(position),
      changed: () => {},
      submit: (kind) => this.answer(kind),
      mediaUrl: (task) => `${config.base}/media/${encodeURIComponent(task._task_hash)}`,
    };
  }

  start() {
    fillHelp(this.feed);
    fillInstructions(this.feed.instructions);
    this.bindControls();
    for (const entry of this.outbox.entries) this.queue.markSeen(entry.body.task_hash);
    this.showPending(this.outbox.entries.length);
    this.outbox.flush();
    this.advance();
    this.refreshProgress();
    window.setInterval(() => this.refreshProgress(), PROGRESS_POLL_MS);
    const lease = Number(this.feed.lease_seconds) || 600;
    const beat = Math.max(MIN_HEARTBEAT_MS, (lease * 1000) / HEARTBEATS_PER_LEASE);
    window.setInterval(() => this.heartbeat(), beat);
  }

  // Keeps the leases of an annotator still working on a long task. A hidden
  // tab sends none, so leases of a forgotten tab expire and free their tasks.
  heartbeat() {
    if (!this.current || document.visibilityState !== "visible") return;
    this.api.post(`${this.config.base}/heartbeat`, {}).catch(() => {});
  }

  bindControls() {
    const click = (id, action) => byId(id).addEventListener("click", action);
    click("accept-button", () => this.answer("accept"));
    click("reject-button", () => this.answer("reject"));
    click("ignore-button", () => this.answer("ignore"));
    click("undo-button", () => this.undo());
    click("done-undo-button", () => this.undo());
    click("refresh-button", () => this.refresh());
    click("help-button", () => toggleDialog(byId("help-dialog")));
    click("instructions-button", () => toggleDialog(byId("instructions-dialog")));
    document.addEventListener("keydown", (event) => this.onKeyDown(event));
    document.addEventListener("keyup", (event) => this.onKeyUp(event));
    window.addEventListener("online", () => this.onOnline());
    window.addEventListener("offline", () => this.showPending(this.outbox.entries.length));
    window.addEventListener("pagehide", () => this.outbox.sendBeforeUnload());
  }

  onOnline() {
    this.outbox.flush();
    if (!this.current) this.advance();
  }

  // ------------------------------------------------------------ keyboard

  onKeyDown(event) {
    if (event.defaultPrevented || isTyping(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "?" || key === "i") {
      event.preventDefault();
      toggleDialog(byId(key === "?" ? "help-dialog" : "instructions-dialog"));
      return;
    }
    if (dialogOpen()) return;
    if (this.current && this.current.view.handleKey(event)) {
      event.preventDefault();
      return;
    }
    const actions = {
      a: () => this.answer("accept"),
      x: () => this.answer("reject"),
      " ": () => this.answer("ignore"),
      Backspace: () => this.undo(),
      h: () => byId("history").toggleAttribute("open"),
      r: () => this.refresh(),
    };
    if (!actions[key]) return;
    event.preventDefault();
    if (!event.repeat) actions[key]();
  }

  // A focused button also activates when the space bar is released. The
  // space bar already means Ignore, so that second action is suppressed.
  onKeyUp(event) {
    if (event.key !== " " || isTyping(event.target) || dialogOpen()) return;
    event.preventDefault();
  }

  // ------------------------------------------------------------ tasks

  async advance() {
    window.clearTimeout(this.reloadTimer);
    if (!this.queue.length) {
      this.showLoading();
      try {
        await this.queue.fill();
      } catch (error) {
        this.loadFailed(error);
        return;
      }
      // An undo may have put a task on screen while the request ran.
      if (this.current) return;
    }
    this.reloadFailures = 0;
    const task = this.queue.shift();
    if (!task) {
      this.showDone(null);
      return;
    }
    this.showTask(task, null);
    this.topUp();
  }

  // Without the network the page keeps trying, and tries at once when the
  // browser reports the connection back.
  loadFailed(error) {
    if (error.status === 401) return;
    if (!error.retryable) {
      this.showDone(error);
      return;
    }
    this.reloadFailures += 1;
    const delay = Math.min(RELOAD_BASE_MS * 2 ** (this.reloadFailures - 1), RELOAD_MAX_MS);
    this.showWaiting(error, Math.ceil(delay / 1000));
    this.reloadTimer = window.setTimeout(() => {
      if (!this.current) this.advance();
    }, delay);
  }

  topUp() {
    if (this.queue.length >= this.queue.lowWater) return;
    this.queue.fill().catch((error) => {
      if (error.status !== 401 && !error.retryable) {
        showToast(`Could not load more tasks: ${error.message}`);
      }
    });
  }

  async refresh() {
    if (this.current) return;
    await this.advance();
    this.refreshProgress();
  }

  // ------------------------------------------------------------ screens

  showTask(task, previousAnswer) {
    this.current?.view.detach?.();
    // Read before the DOM changes, so it costs no extra layout.
    const scrolled = window.scrollY > 0;
    const View = VIEWS[this.feed.interface] || VIEWS.binary;
    const view = new View(task, this.viewContext);
    this.current = { task, view };
    const card = byId("task-card");
    const hadFocus = card.contains(document.activeElement);
    card.replaceChildren(view.render());
    if (previousAnswer) view.restore(previousAnswer);
    this.showLabelBar(Boolean(view.usesLabelBar));
    if (view.focus) {
      view.focus();
    } else if (hadFocus) {
      // Keyboard users annotating tokens keep their place from task to task.
      card.querySelector(".tokens")?.focus({ preventScroll: true });
    }
    card.dataset.taskHash = String(task._task_hash);
    card.hidden = false;
    card.setAttribute("aria-busy", "false");
    // A new task starts at its top, wherever the last one was scrolled to.
    if (scrolled) window.scrollTo({ top: 0 });
    byId("done-screen").hidden = true;
    byId("actions").hidden = false;
    this.doneShown = false;
    this.setAnswerButtons(true);
  }

  showLabelBar(visible) {
    if (!visible) {
      this.labelBar.hide();
    } else if (this.labelBar.container.hidden) {
      this.labelBar.render();
    }
  }

  clearTask() {
    this.current?.view.detach?.();
    this.current = null;
  }

  showLoading() {
    const card = byId("task-card");
    card.hidden = false;
    card.setAttribute("aria-busy", "true");
    const message = document.createElement("p");
    message.className = "card-message";
    message.textContent = "Loading tasks…";
    card.replaceChildren(message);
    delete card.dataset.taskHash;
    this.setAnswerButtons(false);
  }

  showScreen(title, reason) {
    this.clearTask();
    byId("task-card").hidden = true;
    byId("done-screen").hidden = false;
    byId("actions").hidden = true;
    byId("done-title").textContent = title;
    byId("done-reason").textContent = reason;
  }

  showWaiting(error, seconds) {
    this.doneShown = false;
    this.showScreen(
      "Waiting for the network",
      `Could not reach the cluster (${error.message}). Your answers are kept and ` +
        `sent when the connection is back. Next try in ${seconds} s.`,
    );
  }

  async showDone(error) {
    if (error) {
      this.doneShown = false;
      this.showScreen("Could not load tasks", `${error.message} Try Refresh.`);
      return;
    }
    this.doneShown = true;
    this.showScreen("No more tasks for you in this feed", "Checking the feed…");
    await this.refreshProgress();
  }

  setAnswerButtons(enabled) {
    for (const id of ["accept-button", "reject-button", "ignore-button"]) {
      byId(id).disabled = !enabled;
    }
  }

  // ------------------------------------------------------------ answers

  answer(kind) {
    if (!this.current) return;
    const { task, view } = this.current;
    const problem = view.problem ? view.problem(kind) : null;
    if (problem) {
      showToast(problem);
      return;
    }
    const body = {
      answer_id: newAnswerId(),
      task_hash: task._task_hash,
      answer: kind,
      ...view.answerFields(),
    };
    const entry = { body, task };
    this.history.remember(entry, view.describe());
    this.clearTask();
    try {
      // The next task is drawn first, so it shows without waiting for the
      // answer to be saved and sent a few milliseconds later.
      this.advance();
    } finally {
      this.outbox.add(entry);
      this.tabs.answered(task._task_hash);
    }
    this.scheduleProgress();
  }

  answerRejected(entry, error) {
    this.history.forget(entry.body.answer_id);
    showToast(`The server rejected an answer: ${error.message} The task comes back next.`);
    this.bringBackEntry(entry);
  }

  // Another tab of this annotator answered a task: it must not be answered twice.
  answeredElsewhere(taskHash) {
    this.queue.markSeen(taskHash);
    this.queue.drop(taskHash);
    if (this.current && this.current.task._task_hash === taskHash) {
      showToast("You answered this task in another tab; here is the next one.");
      this.clearTask();
      this.advance();
    }
  }

  async undo() {
    if (this.undoing) return;
    this.undoing = true;
    try {
      const local = await this.outbox.takeBackLast();
      if (local) {
        this.history.forget(local.body.answer_id);
        await this.bringBackEntry(local);
      } else {
        await this.undoOnServer();
      }
    } catch (error) {
      if (error.status !== 401) showToast(`Undo failed: ${error.message}`);
    } finally {
      this.undoing = false;
    }
    this.scheduleProgress();
  }

  async undoOnServer() {
    const data = await this.api.post(`${this.config.base}/undo`, {});
    if (!data || !data.undone) {
      showToast("Nothing to undo.");
      return;
    }
    const previous = this.history.forget(data.undone.answer_id);
    if (data.task) {
      this.queue.markSeen(data.task._task_hash);
      this.bringBack(data.task, previous ? previous.body : null);
    }
  }

  // Answers saved before a reload keep only a short form of their task; the
  // full task comes back from the lease the server still holds for it.
  async bringBackEntry(entry) {
    if (!entry.task.short) {
      this.bringBack(entry.task, entry.body);
      return;
    }
    const task = await this.queue.fetchHeld(entry.body.task_hash);
    if (task) {
      this.bringBack(task, entry.body);
    } else {
      showToast("That task comes back later in your queue.");
    }
  }

  // Shows `task` again and puts the task on screen back at the queue's head.
  bringBack(task, previousAnswer) {
    if (this.current) this.queue.unshift(this.current.task);
    this.queue.drop(task._task_hash);
    this.showTask(task, previousAnswer);
  }

  markStored(entry, duplicate) {
    this.history.mark(entry.body.answer_id, duplicate ? "saved before" : "saved");
    this.scheduleProgress();
    // The server answered "no task" while this answer's lease was still
    // held, so it is asked again now that the answer counts.
    if (this.doneShown && !this.outbox.entries.length) this.recheck();
  }

  // Asks the server for tasks again behind the done screen, showing one if
  // there is one and otherwise only updating the reason.
  async recheck() {
    try {
      await this.queue.fill();
    } catch (error) {
      return;
    }
    if (this.current || !this.doneShown) return;
    if (this.queue.length) {
      this.advance();
    } else {
      this.refreshProgress();
    }
  }

  showPending(count, retrySeconds) {
    const indicator = byId("pending-indicator");
    const offline = navigator.onLine === false;
    indicator.hidden = count === 0 && !offline;
    if (indicator.hidden) return;
    const waiting = `${plural(count, "answer")} waiting to be sent`;
    if (offline) {
      indicator.textContent = count ? `Offline: ${waiting}` : "Offline";
    } else {
      indicator.textContent = retrySeconds ? `${waiting}, next try in ${retrySeconds} s` : waiting;
    }
  }

  // ------------------------------------------------------------ progress

  scheduleProgress() {
    if (this.progressTimer) return;
    const wait = Math.max(0, this.progressLast + PROGRESS_INTERVAL_MS - Date.now());
    this.progressTimer = window.setTimeout(() => {
      this.progressTimer = null;
      this.refreshProgress();
    }, wait);
  }

  async refreshProgress() {
    this.progressLast = Date.now();
    try {
      this.lastProgress = await this.api.get(`${this.config.base}/progress`);
    } catch (error) {
      if (error.status === 401) return;
    }
    renderProgress(this.lastProgress);
    // The reason can change as the last answers reach the server.
    if (this.doneShown) {
      byId("done-reason").textContent =
        doneReason(
          this.feed, this.lastProgress, this.outbox.entries.length, this.queue.reason,
        );
    }
  }
}
