import { memo, useEffect, useMemo, useRef } from 'react';
import { splitBlocks } from './blocks';
import { enhance } from './enhance';
import { renderMarkdown } from './render';

/**
 * Markdown rendered progressively: one memoised block per paragraph, so a new token re-parses
 * only the last block. Highlighting and math run on blocks that can no longer change.
 */
export const Markdown = memo(function Markdown({ text, streaming }: { text: string; streaming: boolean }) {
  const blocks = useMemo(() => splitBlocks(text), [text]);
  return (
    <div className="markdown">
      {blocks.map((source, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: blocks only grow at the end while streaming; the index is their identity
        <Block key={i} source={source} final={!streaming || i < blocks.length - 1} />
      ))}
    </div>
  );
});

const Block = memo(function Block({ source, final }: { source: string; final: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const html = useMemo(() => renderMarkdown(source), [source]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-enhance when the rendered HTML changes (ref.current's content)
  useEffect(() => {
    if (final && ref.current) void enhance(ref.current);
  }, [html, final]);
  // biome-ignore lint/security/noDangerouslySetInnerHtml: renderMarkdown's output is sanitized (markdown/render.ts)
  return <div ref={ref} className="md-block" dangerouslySetInnerHTML={{ __html: html }} />;
});
