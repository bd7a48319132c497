/**
 * Splits Markdown into top-level blocks at blank lines outside code fences and `$$` math, so
 * a streaming answer re-renders only its last block while the earlier ones stay untouched.
 */
export function splitBlocks(text: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | null = null;
  let math = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (fence !== null) {
      if (trimmed.startsWith(fence) && trimmed.slice(fence.length).trim() === '') fence = null;
    } else if (!math) {
      const open = /^(`{3,}|~{3,})/.exec(trimmed);
      if (open) fence = open[1]!;
      else if (trimmed.startsWith('$$') && !(trimmed.length > 2 && trimmed.endsWith('$$'))) math = true;
    } else if (trimmed.endsWith('$$')) {
      math = false;
    }
    if (trimmed === '' && fence === null && !math) {
      if (current.length > 0) blocks.push(current.join('\n'));
      current = [];
      continue;
    }
    current.push(line);
  }
  if (current.length > 0) blocks.push(current.join('\n'));
  return blocks;
}
