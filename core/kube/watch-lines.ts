// A watch response body as the API server sends it: one JSON event per line, in chunks that
// may end anywhere, even inside the bytes of one UTF-8 character.
export class JsonLines {
  readonly #text = new TextDecoder('utf-8');
  #buffered = '';

  /** The values of the lines that `chunk` completes, in order. */
  *push(chunk: Uint8Array): Generator<unknown> {
    this.#buffered += this.#text.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = this.#buffered.indexOf('\n')) >= 0) {
      const line = this.#buffered.slice(0, newline).trim();
      this.#buffered = this.#buffered.slice(newline + 1);
      if (line) yield JSON.parse(line);
    }
  }

  /** Ends the stream: a last line without its newline was cut off, and is dropped. */
  end(): void {
    this.#text.decode();
    this.#buffered = '';
  }
}
