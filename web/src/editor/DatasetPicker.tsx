// The control of a node's dataset `source`: pick an uploaded dataset by name,
// or type a server path or id, or drop a file (or choose one) to upload it
// in place; the upload's id becomes the value.

import { useRef, useState, type DragEvent } from 'react';
import { upload, type Dataset } from '../api';
import { fmtBytes, fmtNum } from '../ui/format';
import type { CustomControl } from './ParamForm';

interface Props extends CustomControl {
  datasets: Dataset[];
  /** false for a viewer: no upload. */
  canUpload: boolean;
  onUploaded: (d: Dataset) => void;
}

export function datasetLabel(d: Dataset): string {
  const facts = [d.format, typeof d.rows === 'number' ? `${fmtNum(d.rows)} rows` : '', d.size ? fmtBytes(d.size) : ''].filter(Boolean);
  return `${d.name || d.dataset_id}${facts.length ? ` · ${facts.join(', ')}` : ''}`;
}

export function DatasetPicker({ id, param, value, onChange, describedBy, invalid, datasets, canUpload, onUploaded }: Props) {
  const text = typeof value === 'string' ? value : '';
  const picked = datasets.find((d) => d.dataset_id === text);
  const [progress, setProgress] = useState<number | null>(null);
  const [msg, setMsg] = useState<{ kind: 'error' | 'ok'; text: string } | null>(null);
  const [over, setOver] = useState(false);
  const abort = useRef<(() => void) | null>(null);

  const send = async (file: File) => {
    setMsg(null);
    setProgress(0);
    const u = upload(file, file.name, setProgress);
    abort.current = u.abort;
    try {
      const d = await u.promise;
      onChange(d.dataset_id);
      onUploaded(d);
      setMsg({ kind: 'ok', text: `Uploaded ${file.name} as ${d.dataset_id}.` });
    } catch (e) {
      setMsg({ kind: 'error', text: `Upload of ${file.name} failed: ${(e as Error).message}` });
    } finally {
      setProgress(null);
      abort.current = null;
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files?.[0];
    if (f && canUpload && progress === null) send(f);
  };

  return (
    <div className="dataset-picker">
      <select
        id={`${id}-pick`}
        aria-label={`Uploaded dataset for ${param.name}`}
        value={picked ? picked.dataset_id : ''}
        onChange={(e) => onChange(e.target.value || undefined)}
      >
        <option value="">{datasets.length ? (text && !picked ? 'a path or id (below)' : '— choose an uploaded dataset —') : 'no uploaded datasets yet'}</option>
        {datasets.map((d) => (
          <option key={d.dataset_id} value={d.dataset_id}>
            {datasetLabel(d)}
          </option>
        ))}
      </select>
      <input
        type="text"
        id={id}
        name={param.name}
        className="dataset-path"
        aria-describedby={describedBy}
        aria-invalid={invalid || undefined}
        aria-required={param.required || undefined}
        placeholder="dataset id or server path"
        value={text}
        onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
        autoComplete="off"
      />
      {canUpload ? (
        <div
          className={`dropzone${over ? ' over' : ''}`}
          onDragOver={(e) => {
            if (![...e.dataTransfer.types].includes('Files')) return;
            e.preventDefault();
            e.stopPropagation();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={onDrop}
          data-dropzone={param.name}
        >
          {progress !== null ? (
            <>
              <progress value={progress} max={1} aria-label={`Upload progress for ${param.name}`} />
              <button type="button" className="link small" onClick={() => abort.current?.()}>
                Cancel upload
              </button>
            </>
          ) : (
            <label className="small">
              Drop a file here or <span className="link">choose one</span> to upload
              <input
                type="file"
                className="sr-only"
                aria-label={`Upload a dataset file for ${param.name}`}
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  e.target.value = '';
                  if (f) send(f);
                }}
              />
            </label>
          )}
        </div>
      ) : null}
      {msg ? (
        <p className={msg.kind === 'error' ? 'error-text' : 'ok-text small'} role={msg.kind === 'error' ? 'alert' : 'status'}>
          {msg.text}
        </p>
      ) : null}
    </div>
  );
}
