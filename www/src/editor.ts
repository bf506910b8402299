// The YAML editors (CodeMirror 6): the main input and the what-if copy.

import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, defaultHighlightStyle, foldGutter, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic as CmDiagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { EditorSelection, EditorState } from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { lineRange } from './model';
import type { Diagnostic } from './types';

export function createEditor(parent: HTMLElement, doc: string, onChange: (text: string) => void, label: string): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        foldGutter(),
        lintGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        yaml(),
        EditorState.tabSize.of(2),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
}

export function setText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

/** Shows the core's diagnostics as inline marks and gutter markers. */
export function showDiagnostics(view: EditorView, diagnostics: readonly Diagnostic[]): void {
  const text = view.state.doc.toString();
  const marks: CmDiagnostic[] = diagnostics.map((d) => {
    const { from, to } = lineRange(text, d.line, d.column);
    return {
      from,
      to,
      severity: d.severity,
      source: d.code,
      message: d.resource ? `${d.message} [${d.resource}]` : d.message,
    };
  });
  view.dispatch(setDiagnostics(view.state, marks));
}

/** Moves the cursor to a 1-based line, selects it and scrolls it into view. */
export function jumpToLine(view: EditorView, line: number): void {
  const n = Math.min(Math.max(1, line), view.state.doc.lines);
  const l = view.state.doc.line(n);
  view.dispatch({
    selection: EditorSelection.range(l.from, l.to),
    effects: EditorView.scrollIntoView(l.from, { y: 'center' }),
  });
  view.focus();
}
