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
        <Block key={i} source={source} final={!streaming || i < blocks.length - 1} />
      ))}
    </div>
  );
});

const Block = memo(function Block({ source, final }: { source: string; final: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const html = useMemo(() => renderMarkdown(source), [source]);
  useEffect(() => {
    if (final && ref.current) void enhance(ref.current);
  }, [html, final]);
  return <div ref={ref} className="md-block" dangerouslySetInnerHTML={{ __html: html }} />;
});
