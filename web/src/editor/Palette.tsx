// The palette: agents from the server, grouped by category and filterable;
// drag one onto the canvas, or press Enter (or click) to add it.

import { useMemo, useState } from 'react';
import type { AgentSpec } from '../api';

export const DND_TYPE = 'application/x-whet-agent';

interface Props {
  agents: AgentSpec[] | null;
  loading: boolean;
  onAdd: (agent: string) => void;
  collapsed: boolean;
  onToggle: () => void;
}

export function Palette({ agents, loading, onAdd, collapsed, onToggle }: Props) {
  const [filter, setFilter] = useState('');
  const categories = useMemo(() => {
    const m = new Map<string, AgentSpec[]>();
    for (const a of agents ?? []) {
      if (filter && !`${a.name} ${a.description}`.toLowerCase().includes(filter.toLowerCase())) continue;
      const c = a.category || 'other';
      m.set(c, [...(m.get(c) ?? []), a]);
    }
    return [...m.entries()];
  }, [agents, filter]);
  return (
    <aside className={`palette${collapsed ? ' collapsed' : ''}`} aria-label="Agents">
      <div className="panel-head">
        <h2>Agents</h2>
        <button type="button" className="link small collapse-toggle" onClick={onToggle} aria-expanded={!collapsed} aria-controls="palette-body" title={collapsed ? 'Show agents' : 'Hide agents'}>
          {collapsed ? '»' : '«'}
          <span className="sr-only">{collapsed ? 'Show agents' : 'Hide agents'}</span>
        </button>
      </div>
      <div id="palette-body" hidden={collapsed}>
        <input type="search" placeholder="Filter agents" aria-label="Filter agents" value={filter} onChange={(e) => setFilter(e.target.value)} />
        {loading ? <p className="muted">Loading…</p> : null}
        {categories.map(([cat, list]) => (
          <section key={cat}>
            <h3>{cat}</h3>
            <ul>
              {list.map((a) => (
                <li key={a.name}>
                  <button
                    type="button"
                    className="palette-item"
                    draggable
                    data-agent={a.name}
                    onDragStart={(e) => {
                      e.dataTransfer.setData(DND_TYPE, a.name);
                      e.dataTransfer.setData('text/plain', a.name);
                      e.dataTransfer.effectAllowed = 'move';
                    }}
                    onClick={() => onAdd(a.name)}
                    title={`Add ${a.name}: ${a.description}\nDrag onto the canvas, or press Enter to add.`}
                  >
                    <span className="palette-name">
                      {a.name}
                      {a.gpu ? <span className="badge">GPU</span> : null}
                    </span>
                    <span className="palette-ports">
                      {(a.inputs ?? []).map((p) => p.type).join(', ') || '—'} → {(a.outputs ?? []).map((p) => p.type).join(', ') || '—'}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </aside>
  );
}
