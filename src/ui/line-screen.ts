/**
 * A list of lines kept live on a terminal: a line is rewritten in place only when its text changed (cursor up to it,
 * rewrite, back down), so a whole cold build writes a few tens of KB. Lines are cut to the terminal's width, so none
 * wraps and the cursor arithmetic holds; each starts with a carriage return, so it lands in column 0 whether or not the
 * terminal turns LF into CR LF. The cursor stays visible below the list (nothing to restore when the process is
 * interrupted); notes go above the list, which moves down.
 */
const esc = '\x1b[';

export class LineScreen {
  /** What each screen line below the notes holds now. */
  private readonly drawn: string[] = [];
  private readonly width: number;

  constructor(
    private readonly write: (text: string) => void,
    columns: number,
  ) {
    this.width = Math.max(20, columns) - 1; // never the last column: no pending wrap, no surprise scroll
  }

  /** The widest text a line may hold after a prefix of `used` columns. */
  cut(text: string, used = 0): string {
    const room = this.width - used;
    return text.length > room ? `${text.slice(0, room - 1)}…` : text;
  }

  /** Sets line `index` (a new index is added below the others); writes only when it changed. */
  set(index: number, line: string): void {
    if (index >= this.drawn.length) {
      while (this.drawn.length < index) this.set(this.drawn.length, '');
      this.drawn.push(line);
      this.write(`\r${line}${esc}K\n`);
      return;
    }
    if (this.drawn[index] === line) return;
    this.drawn[index] = line;
    const up = this.drawn.length - index;
    this.write(`${esc}${up}A\r${line}${esc}K${esc}${up}B\r`);
  }

  /** A line above the list: the list moves down one line and is written again. */
  note(text: string): void {
    const cut = this.cut(text);
    if (this.drawn.length === 0) {
      this.write(`\r${cut}${esc}K\n`);
      return;
    }
    this.write(`${esc}${this.drawn.length}A\r${cut}${esc}K\n${this.drawn.map((l) => `\r${l}${esc}K\n`).join('')}`);
  }

  /** The line below the list may hold an echoed ^C: clear it for whatever is printed next. */
  finish(): void {
    this.write(`\r${esc}K`);
  }
}
