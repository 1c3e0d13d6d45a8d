// Tasks leased to this annotator and not shown yet, fetched ahead in batches.
//
// The server hands back the leases an annotator still holds before new ones,
// so after a reload the first task is the one the server leased. `seen` keeps
// out tasks this page already showed or answered.

const FETCH_COUNT = 10;
// Long documents come a few at a time: ten of 20,000 characters with their
// tokens are over 2 MB of JSON, whose parsing would delay a key press. The
// first request is small too, because task sizes are unknown until then.
const FEW_FETCH_COUNT = 4;
const LONG_TEXT = 5000;

export class TaskQueue {
  constructor(api, base) {
    this.api = api;
    this.base = base;
    this.tasks = [];
    this.seen = new Set();
    this.fetching = null;
    this.count = FEW_FETCH_COUNT;
    // Why the server had no new task: "done", "quota" or "leased-by-others".
    this.reason = null;
  }

  // The number of queued tasks below which more are fetched.
  get lowWater() {
    return Math.min(3, this.count - 1);
  }

  get length() {
    return this.tasks.length;
  }

  shift() {
    return this.tasks.shift();
  }

  unshift(task) {
    this.tasks.unshift(task);
  }

  markSeen(taskHash) {
    this.seen.add(taskHash);
  }

  drop(taskHash) {
    this.tasks = this.tasks.filter((task) => task._task_hash !== taskHash);
  }

  fill() {
    if (!this.fetching) {
      this.fetching = this.fetch().finally(() => {
        this.fetching = null;
      });
    }
    return this.fetching;
  }

  async fetch() {
    const data = await this.api.post(`${this.base}/next`, { count: this.count });
    const tasks = data && Array.isArray(data.tasks) ? data.tasks : [];
    this.reason = data ? data.reason || null : null;
    const longest = Math.max(0, ...tasks.map((task) => String(task.text || "").length));
    this.count = longest > LONG_TEXT ? FEW_FETCH_COUNT : FETCH_COUNT;
    for (const task of tasks) {
      if (this.seen.has(task._task_hash)) continue;
      this.seen.add(task._task_hash);
      this.tasks.push(task);
    }
  }

  // Fetches a task this annotator still holds a lease on, such as one whose
  // answer was taken back before it reached the server. Returns null if the
  // server does not list it among the first leases it returns.
  async fetchHeld(taskHash) {
    this.seen.delete(taskHash);
    // The lease may come after others, so it is looked for among the first ten.
    this.count = FETCH_COUNT;
    await this.fill();
    const task = this.tasks.find((item) => item._task_hash === taskHash) || null;
    if (task) this.drop(taskHash);
    this.seen.add(taskHash);
    return task;
  }
}
