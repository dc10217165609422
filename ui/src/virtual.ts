// A virtualised list for long transcripts: only the lines in view (and a few either side) are in
// the page, so a 2-hour transcript costs the webview what a short one does. The measuring and
// scroll keeping are TanStack Virtual's; this file only ties its lifecycle to Preact's.
import {
  elementScroll,
  observeElementOffset,
  observeElementRect,
  Virtualizer,
  type VirtualizerOptions,
} from "@tanstack/virtual-core";
import { useLayoutEffect, useReducer, useState } from "preact/hooks";

/** A transcript line's height before it is measured: one row of text with its padding. */
const LINE_ESTIMATE_PX = 34;

/** What a list says about its lines; the rest of TanStack's options are filled in here. */
export interface ListOptions {
  count: number;
  /** The scrolling box. */
  scroller: () => HTMLElement | null;
  /** A line's height before it is measured, in pixels (one row of text if not given). */
  estimate?: (index: number) => number;
  /** A line's stable key, so measurements follow lines that move. */
  key: (index: number) => string;
  /** Keep the end of the list in view while it grows, as a live transcript does. */
  followEnd?: boolean;
  /** Lines rendered beyond each edge of the view. */
  overscan?: number;
  /** Where the list begins inside a scroller it shares with other content, in pixels. */
  scrollMargin?: number;
}

/** The list's virtualizer, re-rendering the component when the lines in view change. Lines are
 * placed with `item.start` and measured with `ref={list.measureElement}` and `data-index`. */
export function useVirtualList(options: ListOptions): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const resolved: VirtualizerOptions<HTMLElement, HTMLElement> = {
    count: options.count,
    getScrollElement: options.scroller,
    estimateSize: options.estimate ?? (() => LINE_ESTIMATE_PX),
    getItemKey: options.key,
    overscan: options.overscan ?? 8,
    scrollMargin: options.scrollMargin ?? 0,
    observeElementRect,
    observeElementOffset,
    scrollToFn: elementScroll,
    anchorTo: options.followEnd ? "end" : "start",
    followOnAppend: options.followEnd ?? false,
    onChange: () => rerender(0),
  };
  const [list] = useState(() => new Virtualizer<HTMLElement, HTMLElement>(resolved));
  list.setOptions(resolved);
  useLayoutEffect(() => list._didMount(), [list]);
  useLayoutEffect(() => {
    list._willUpdate();
  });
  return list;
}
