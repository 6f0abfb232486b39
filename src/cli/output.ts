/** Writing a command's result to stdout. */
export const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const json = (value: unknown) => out(JSON.stringify(value, null, 2));
