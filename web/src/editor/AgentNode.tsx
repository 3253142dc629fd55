// AgentNode draws one pipeline node on a React Flow canvas: the agent, its
// input and output ports as typed handles, and (on the run page) its live
// status and progress, or (in the editor) its validation errors.

import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import type { AgentSpec } from '../api';
import { inHandle, outHandle } from './pipeline';
import { fmtETA } from '../ui/format';

export type AgentNodeData = {
  agent: string;
  spec?: AgentSpec;
  errorCount?: number;
  status?: string;
  progress?: { fraction: number; eta?: number; message?: string };
};

export type AgentFlowNode = Node<AgentNodeData, 'agent'>;

export function AgentNode({ id, data, selected }: NodeProps<AgentFlowNode>) {
  const ins = data.spec?.inputs ?? [];
  const outs = data.spec?.outputs ?? [];
  const status = data.status;
  const cls = ['agent-node', status ? `status-${status}` : '', data.errorCount ? 'has-error' : '', selected ? 'selected' : '', data.spec ? '' : 'unknown']
    .filter(Boolean)
    .join(' ');
  return (
    <div className={cls} data-node-id={id} data-status={status} aria-label={`${id} (${data.agent})${status ? `, ${status}` : ''}`}>
      <div className="agent-node-head">
        <span className="agent-node-id">{id}</span>
        {status ? <span className={`badge status-${status}`}>{status}</span> : null}
        {data.errorCount ? (
          <span className="badge error" title="validation errors">
            {data.errorCount} error{data.errorCount > 1 ? 's' : ''}
          </span>
        ) : null}
      </div>
      <div className="agent-node-agent">
        {data.agent}
        {data.spec ? null : ' (unknown agent)'}
      </div>
      {data.progress && status === 'running' ? (
        <div className="node-progress" title={data.progress.message}>
          <progress max={1} value={data.progress.fraction} aria-label={`${id} progress`} />
          <span className="small">
            {Math.round(data.progress.fraction * 100)}%{data.progress.eta ? ` · ETA ${fmtETA(data.progress.eta)}` : ''}
          </span>
        </div>
      ) : null}
      <div className="ports">
        <div className="ports-in">
          {ins.map((p, i) => (
            <div className="port-label" key={p.name + i}>
              <Handle
                type="target"
                position={Position.Left}
                id={inHandle(p)}
                className={`handle type-${p.type}`}
                data-port-type={p.type}
                title={`input ${p.name}: ${p.type}`}
              />
              {p.name || p.type}
              <span className="port-type">{p.type}</span>
            </div>
          ))}
        </div>
        <div className="ports-out">
          {outs.map((p, i) => (
            <div className="port-label" key={p.name + i}>
              <span className="port-type">{p.type}</span>
              {p.name || p.type}
              <Handle
                type="source"
                position={Position.Right}
                id={outHandle(p)}
                className={`handle type-${p.type}`}
                data-port-type={p.type}
                title={`output ${p.name}: ${p.type}`}
              />
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}

export const nodeTypes = { agent: AgentNode };
