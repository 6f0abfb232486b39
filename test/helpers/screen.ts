/**
 * A small terminal: replays the bytes a program wrote to a pseudo-terminal and gives the text on the screen, so a test
 * can check what a user would see at the end (not just which bytes went by). It knows what our views and the line
 * discipline write: printable text with autowrap, CR, LF, BS, tab, and CSI A B C D G H K J m (other sequences are
 * ignored). The screen keeps every line (scrollback included); `screen(rows)` is the last `rows` of them.
 */
export class Screen {
  private lines: string[][] = [[]];
  private row = 0;
  private col = 0;

  constructor(readonly columns = 120) {}

  private line(): string[] {
    while (this.lines.length <= this.row) this.lines.push([]);
    return this.lines[this.row]!;
  }

  private put(ch: string): void {
    if (this.col >= this.columns) {
      this.row += 1;
      this.col = 0;
    }
    const line = this.line();
    while (line.length < this.col) line.push(' ');
    line[this.col] = ch;
    this.col += 1;
  }

  private csi(params: string, final: string): void {
    const numbers = params.replace(/^\?/, '').split(';');
    const n = (i: number, fallback: number) => {
      const v = Number.parseInt(numbers[i] ?? '', 10);
      return Number.isNaN(v) ? fallback : v;
    };
    switch (final) {
      case 'A':
        this.row = Math.max(0, this.row - n(0, 1));
        break;
      case 'B':
        this.row += n(0, 1);
        break;
      case 'C':
        this.col = Math.min(this.columns - 1, this.col + n(0, 1));
        break;
      case 'D':
        this.col = Math.max(0, this.col - n(0, 1));
        break;
      case 'G':
        this.col = Math.max(0, n(0, 1) - 1);
        break;
      case 'H':
        this.row = Math.max(0, n(0, 1) - 1);
        this.col = Math.max(0, n(1, 1) - 1);
        break;
      case 'K': {
        const line = this.line();
        const mode = n(0, 0);
        if (mode === 0) line.length = Math.min(line.length, this.col);
        else if (mode === 1) for (let i = 0; i <= this.col && i < line.length; i++) line[i] = ' ';
        else line.length = 0;
        break;
      }
      case 'J':
        if (n(0, 0) === 0) {
          this.line().length = Math.min(this.line().length, this.col);
          this.lines.length = Math.min(this.lines.length, this.row + 1);
        } else this.lines = this.lines.map(() => []);
        break;
      default: // m (colours), h/l (modes): nothing on the text
    }
  }

  /** Feeds bytes as written to the terminal. */
  write(data: Buffer | string): this {
    const text = typeof data === 'string' ? data : data.toString('utf8');
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '\x1b') {
        if (text[i + 1] === '[') {
          let j = i + 2;
          while (j < text.length && !/[@-~]/.test(text[j]!)) j++;
          this.csi(text.slice(i + 2, j), text[j] ?? '');
          i = j;
        } else i += 1; // a two-byte escape (ESC 7, ESC =): nothing on the text
      } else if (ch === '\r') this.col = 0;
      else if (ch === '\n') this.row += 1;
      else if (ch === '\b') this.col = Math.max(0, this.col - 1);
      else if (ch === '\t') this.col = Math.min(this.columns - 1, (Math.floor(this.col / 8) + 1) * 8);
      else if (ch >= ' ' || ch > '\x7f') this.put(ch);
    }
    return this;
  }

  /** Every line written so far, trailing blanks removed. */
  text(): string[] {
    const out = this.lines.map((l) => l.join('').replace(/\s+$/, ''));
    while (out.length > 0 && out.at(-1) === '') out.pop();
    return out;
  }

  /** What a terminal of `rows` rows shows now. */
  screen(rows = 40): string[] {
    return this.text().slice(-rows);
  }
}
