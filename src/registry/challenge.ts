/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1): one header may hold several challenges, each a scheme followed by
 * either a token68 or comma-separated `name=value` parameters, values being tokens or quoted strings (which may hold
 * commas, as in `scope="repository:a/b:pull,push"`, and backslash escapes).
 */

export interface Challenge {
  /** Lower case: `basic`, `bearer`. */
  scheme: string;
  /** Parameter names lower case; values as sent (unquoted). */
  params: Record<string, string>;
  token68?: string;
}

const tokenChar = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const token68Char = /[A-Za-z0-9._~+/-]/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const skipSeparators = () => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < header.length && tokenChar.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    i++; // opening quote
    let value = '';
    while (i < header.length && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < header.length) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };
  /** At a parameter `name = value`? Looks ahead without consuming. */
  const atParam = (): boolean => {
    const start = i;
    const name = readToken();
    skipSpace();
    const isParam = name !== '' && header[i] === '=' && header[i + 1] !== '=';
    i = start;
    return isParam;
  };

  skipSeparators();
  while (i < header.length) {
    const scheme = readToken();
    if (scheme === '') break; // garbage: stop rather than loop
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skipSpace();
    // token68: `Scheme abc+/=` with no `=` right after a token (or only trailing `=` padding)
    const start = i;
    while (i < header.length && token68Char.test(header[i]!)) i++;
    if (i > start) {
      let end = i;
      while (end < header.length && header[end] === '=') end++;
      const after = header.slice(end).trimStart();
      if (after === '' || after.startsWith(',')) {
        challenge.token68 = header.slice(start, end);
        i = end;
        skipSeparators();
        continue;
      }
    }
    i = start;
    for (;;) {
      skipSeparators();
      if (i >= header.length || !atParam()) break;
      const name = readToken().toLowerCase();
      skipSpace();
      i++; // '='
      skipSpace();
      challenge.params[name] = header[i] === '"' ? readQuoted() : readToken();
      skipSpace();
    }
  }
  return challenges;
}

/** The scopes a Bearer challenge asks for (`scope` may list several, separated by spaces). */
export function challengeScopes(challenge: Challenge): string[] {
  return (challenge.params.scope ?? '').split(' ').filter((s) => s !== '');
}
