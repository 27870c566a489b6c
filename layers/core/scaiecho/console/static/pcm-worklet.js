// Runs on the audio thread: collects the microphone's first channel into 100 ms frames (at the
// context's sample rate, 16 kHz in the console) and hands them to the page.
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.frame = new Float32Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;  // no input yet (device starting): keep the node alive
    let i = 0;
    while (i < channel.length) {
      const n = Math.min(channel.length - i, this.size - this.filled);
      this.frame.set(channel.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.size) {
        // transferred, so the buffer is detached here (length 0): a new one takes its place
        this.port.postMessage(this.frame, [this.frame.buffer]);
        this.frame = new Float32Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
