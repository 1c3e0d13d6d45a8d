// Tells the annotator's other tabs on the same feed which tasks were answered
// here, so a task answered in one tab leaves the queue of every other one.

export class TabChannel {
  constructor(name, onAnswered) {
    this.channel = "BroadcastChannel" in window ? new BroadcastChannel(name) : null;
    if (this.channel) {
      this.channel.onmessage = (event) => {
        const data = event.data || {};
        if (data.type === "answered") onAnswered(data.taskHash);
      };
    }
  }

  answered(taskHash) {
    if (this.channel) this.channel.postMessage({ type: "answered", taskHash });
  }
}
