// Kiali's lock vocabulary as SVG paths (no emoji font needed, playground.md P12):
// closed lock = mTLS / STRICT, hollow lock = PERMISSIVE, open lock = plaintext / DISABLE,
// red open lock = a call that fails.

import { svg } from './dom';

export type LockKind = 'closed' | 'hollow' | 'open' | 'fail' | 'none';

const SHACKLE_CLOSED = 'M5 8.5 V5.5 a3 3 0 0 1 6 0 V8.5';
const SHACKLE_OPEN = 'M11 8.5 V4.5 a3 3 0 0 0 -6 0 V5.6';

/** A 16×16 lock glyph; `cls` colours it through CSS (`currentColor`). */
export function lockIcon(kind: LockKind, size = 16, at?: { x: number; y: number }): SVGSVGElement {
  const root = svg('svg', {
    viewBox: '0 0 16 16',
    width: size,
    height: size,
    class: `lock lock-${kind}`,
    'data-lock': kind,
    'aria-hidden': 'true',
    ...(at ? { x: at.x - size / 2, y: at.y - size / 2 } : {}),
  });
  if (kind === 'none') {
    root.append(
      svg('circle', { cx: 8, cy: 8, r: 5.5, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }),
      svg('path', { d: 'M4.2 11.8 L11.8 4.2', stroke: 'currentColor', 'stroke-width': 1.6 }),
    );
    return root;
  }
  // A white disc behind the glyph keeps it readable on top of an edge.
  root.append(svg('circle', { cx: 8, cy: 8.5, r: 7.6, fill: 'white', 'fill-opacity': 0.92 }));
  const open = kind === 'open' || kind === 'fail';
  root.append(
    svg('path', {
      d: open ? SHACKLE_OPEN : SHACKLE_CLOSED,
      fill: 'none',
      stroke: 'currentColor',
      'stroke-width': 1.7,
      'stroke-linecap': 'round',
    }),
    svg('rect', {
      x: 3.2,
      y: 8.2,
      width: 9.6,
      height: 6.6,
      rx: 1.3,
      fill: kind === 'hollow' ? 'white' : 'currentColor',
      stroke: 'currentColor',
      'stroke-width': 1.4,
    }),
  );
  if (kind === 'fail') {
    root.append(svg('path', { d: 'M6.3 10 L9.7 13.2 M9.7 10 L6.3 13.2', stroke: 'white', 'stroke-width': 1.4 }));
  }
  return root;
}

/** The lock a server mode is drawn with. */
export function modeLock(mode: string): LockKind {
  switch (mode) {
    case 'STRICT':
      return 'closed';
    case 'PERMISSIVE':
    case 'MIXED':
      return 'hollow';
    case 'DISABLE':
      return 'open';
    default:
      return 'none';
  }
}

/** The colours of `style.css` (`--mtls`, `--plain`, `--fail`) for a lock drawn as an image. */
const LOCK_COLOR: Record<LockKind, string> = {
  closed: '#2e7d32',
  hollow: '#b26a00',
  open: '#b26a00',
  fail: '#c62828',
  none: '#98a2b3',
};

let lockSheet: HTMLStyleElement | null = null;

/**
 * The class that draws a lock before an element's text, for views that draw thousands of them
 * (the namespace matrix): the same glyph as the element's own background (a `data:` image),
 * decoded once and painted per use. An inline SVG costs five nodes per cell to build, lay out
 * and paint, and a `::before` box per cell still costs most of that.
 */
export function lockImageClass(kind: LockKind): string {
  if (!lockSheet) {
    const rules = (Object.keys(LOCK_COLOR) as LockKind[]).map((k) => {
      const icon = lockIcon(k);
      icon.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
      icon.setAttribute('style', `color: ${LOCK_COLOR[k]}`);
      const data = encodeURIComponent(new XMLSerializer().serializeToString(icon));
      return `.lock-image-${k} { background-image: url("data:image/svg+xml,${data}"); }`;
    });
    lockSheet = document.createElement('style');
    lockSheet.textContent = rules.join('\n');
    document.head.append(lockSheet);
  }
  return `lock-image lock-image-${kind}`;
}
