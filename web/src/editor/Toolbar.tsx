// The editor's toolbar: name, undo/redo, layout, templates, YAML import and
// export, clear, run. Extra buttons (e.g. a dry-run plan) go in `extra`.

import { useRef, type ReactNode } from 'react';
import { templates } from './templates';

interface Props {
  name: string;
  onName: (name: string) => void;
  canUndo: boolean;
  canRedo: boolean;
  onUndo: () => void;
  onRedo: () => void;
  empty: boolean;
  onLayout: () => void;
  onTemplate: (id: string) => void;
  onImport: (text: string, source: string) => void;
  onExport: () => void;
  yamlOpen: boolean;
  onToggleYAML: () => void;
  onClear: () => void;
  submitting: boolean;
  onRun: () => void;
  /** false for a viewer: no Run button. */
  canRun?: boolean;
  /** the name the run will get (the pipeline's name and the date, unless edited). */
  runName?: string;
  onRunName?: (name: string) => void;
  extra?: ReactNode;
}

export function Toolbar(p: Props) {
  const fileInput = useRef<HTMLInputElement>(null);
  return (
    <div className="toolbar" role="toolbar" aria-label="Pipeline actions">
      <label className="inline">
        <span>Name</span>
        <input value={p.name} onChange={(e) => p.onName(e.target.value)} aria-label="Pipeline name" />
      </label>
      <button type="button" onClick={p.onUndo} disabled={!p.canUndo} aria-keyshortcuts="Control+Z" title="Undo (Ctrl+Z)">
        Undo
      </button>
      <button type="button" onClick={p.onRedo} disabled={!p.canRedo} aria-keyshortcuts="Control+Shift+Z" title="Redo (Ctrl+Shift+Z)">
        Redo
      </button>
      <button type="button" onClick={p.onLayout} disabled={p.empty}>
        Auto-layout
      </button>
      <label className="inline">
        <span className="sr-only">Start from a template</span>
        <select aria-label="Start from a template" value="" onChange={(e) => p.onTemplate(e.target.value)}>
          <option value="">Templates…</option>
          {templates.map((t) => (
            <option key={t.id} value={t.id} title={t.description}>
              {t.title}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={() => fileInput.current?.click()}>
        Import YAML
      </button>
      <input
        ref={fileInput}
        type="file"
        accept=".yaml,.yml,.json,application/yaml,application/json"
        hidden
        aria-label="Import pipeline file"
        onChange={async (e) => {
          const f = e.target.files?.[0];
          if (f) p.onImport(await f.text(), f.name);
          e.target.value = '';
        }}
      />
      <button type="button" onClick={p.onExport} disabled={p.empty}>
        Export YAML
      </button>
      <button type="button" onClick={p.onToggleYAML} aria-expanded={p.yamlOpen} aria-controls="yaml-panel">
        {p.yamlOpen ? 'Hide YAML' : 'Edit as YAML'}
      </button>
      <button type="button" onClick={p.onClear} disabled={p.empty}>
        Clear
      </button>
      <span className="spacer" />
      {p.extra}
      {p.canRun === false ? (
        <span className="muted small run-denied">Viewers can edit but not run pipelines.</span>
      ) : (
        <>
          {p.onRunName && !p.empty ? (
            <label className="inline run-name">
              <span>Run name</span>
              <input value={p.runName ?? ''} onChange={(e) => p.onRunName?.(e.target.value)} maxLength={200} />
            </label>
          ) : null}
          <button type="button" className="primary" onClick={p.onRun} disabled={p.submitting || p.empty}>
            {p.submitting ? 'Submitting…' : 'Run pipeline'}
          </button>
        </>
      )}
    </div>
  );
}
