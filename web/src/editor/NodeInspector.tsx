// The node inspector: id (rename), params (the form generated from the
// agent's schema), connections (add an input without the mouse), delete.

import { useState } from 'react';
import type { Connection } from '@xyflow/react';
import type { AgentSpec, Dataset } from '../api';
import { splitParams } from './basic';
import { DatasetPicker } from './DatasetPicker';
import { ParamForm } from './ParamForm';
import { canConnect, pickHandles, portOf, wouldCycle, type Graph } from './pipeline';

interface InspectorProps {
  node: Graph['nodes'][number];
  spec?: AgentSpec;
  graph: Graph;
  specOf: Map<string, AgentSpec>;
  errors?: Record<string, string>;
  datasets: Dataset[];
  /** whether the user may upload (not a viewer). */
  canUpload: boolean;
  onUploaded: (d: Dataset) => void;
  onParam: (name: string, v: unknown) => void;
  onRename: (id: string) => boolean;
  onConnect: (c: Connection) => void;
  onDisconnect: (edgeID: string) => void;
  onDelete: () => void;
}

export function NodeInspector({ node, spec, graph, specOf, errors, datasets, canUpload, onUploaded, onParam, onRename, onConnect, onDisconnect, onDelete }: InspectorProps) {
  const { basic, advanced } = splitParams(spec);
  const [id, setID] = useState(node.id);
  const [idErr, setIDErr] = useState('');
  const incoming = graph.edges.filter((e) => e.target === node.id);
  const outgoing = graph.edges.filter((e) => e.source === node.id);
  const candidates = graph.nodes.filter((n) => {
    if (n.id === node.id || incoming.some((e) => e.source === n.id)) return false;
    const h = pickHandles(specOf.get(n.agent), spec);
    return canConnect(portOf(specOf.get(n.agent), h.sourceHandle, 'out'), portOf(spec, h.targetHandle, 'in')) && !wouldCycle(graph.edges, n.id, node.id);
  });
  const nodeErr = errors?.[''];
  return (
    <div className="node-inspector">
      <h2>
        {node.id} <span className="muted small">({node.agent})</span>
      </h2>
      {spec ? <p className="help">{spec.description}</p> : <p className="error-text">Unknown agent “{node.agent}”: not on this server.</p>}
      {nodeErr ? (
        <p className="error-text" role="alert">
          {nodeErr}
        </p>
      ) : null}
      <form
        className="field"
        onSubmit={(e) => {
          e.preventDefault();
          if (id === node.id) return;
          if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(id)) return setIDErr('must start with a letter; letters, digits, _ and - only');
          if (!onRename(id)) setIDErr('id already used');
          else setIDErr('');
        }}
      >
        <label htmlFor="node-id">Node id</label>
        <div className="row">
          <input id="node-id" value={id} onChange={(e) => setID(e.target.value)} aria-invalid={idErr ? true : undefined} aria-describedby={idErr ? 'node-id-err' : undefined} />
          <button type="submit" disabled={id === node.id}>
            Rename
          </button>
        </div>
        {idErr ? (
          <p id="node-id-err" className="error-text" role="alert">
            {idErr}
          </p>
        ) : null}
      </form>
      <h3>Params</h3>
      <ParamForm
        params={basic}
        advanced={advanced}
        values={node.params}
        errors={errors}
        onChange={onParam}
        idPrefix={`param-${node.id}`}
        custom={{ dataset: (c) => <DatasetPicker {...c} datasets={datasets} canUpload={canUpload} onUploaded={onUploaded} /> }}
      />
      {Object.entries(errors ?? {})
        .filter(([f]) => f && !(spec?.params ?? []).some((p) => p.name === f))
        .map(([f, m]) => (
          <p key={f} className="error-text" role="alert">
            {f}: {m}
          </p>
        ))}
      <h3>Connections</h3>
      <ul className="conn-list">
        {incoming.map((e) => (
          <li key={e.id}>
            ← {e.source}{' '}
            <button type="button" className="link small" onClick={() => onDisconnect(e.id)} aria-label={`remove the input from ${e.source}`}>
              remove
            </button>
          </li>
        ))}
        {outgoing.map((e) => (
          <li key={e.id}>
            → {e.target}{' '}
            <button type="button" className="link small" onClick={() => onDisconnect(e.id)} aria-label={`remove the output to ${e.target}`}>
              remove
            </button>
          </li>
        ))}
        {!incoming.length && !outgoing.length ? <li className="muted">none</li> : null}
      </ul>
      {candidates.length ? (
        <label className="field">
          <span>Add input from</span>
          <select
            value=""
            onChange={(e) => {
              const src = graph.nodes.find((n) => n.id === e.target.value);
              if (!src) return;
              onConnect({ source: src.id, target: node.id, ...pickHandles(specOf.get(src.agent), spec) } as Connection);
            }}
          >
            <option value="">— choose a node —</option>
            {candidates.map((c) => (
              <option key={c.id} value={c.id}>
                {c.id} ({c.agent})
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <button type="button" className="danger" onClick={onDelete}>
        Delete node
      </button>
    </div>
  );
}
