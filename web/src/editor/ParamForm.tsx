// ParamForm generates a form from an agent's param declarations: the control
// follows the type (number with range, checkbox, select for enums, checkboxes
// for lists of enums, text for lists, a fieldset for objects), defaults are
// shown as placeholders, descriptions are tied to controls, and errors (the
// server's, else the client's own checks) are shown on the field they name.

import { useState, type ReactNode } from 'react';
import type { Param } from '../api';
import { checkParam } from './pipeline';

/** What a custom control (e.g. the dataset picker) gets: the field's id, value and change function. */
export interface CustomControl {
  id: string;
  param: Param;
  value: unknown;
  onChange: (v: unknown) => void;
  describedBy?: string;
  invalid: boolean;
}

export interface ParamFormProps {
  params: Param[];
  values: Record<string, unknown>;
  /** errors by param name (from the server); they win over client checks. */
  errors?: Record<string, string>;
  onChange: (name: string, value: unknown) => void;
  idPrefix: string;
  /** suggestions for params whose kind is "dataset" or "model". */
  suggestions?: Record<string, string[]>;
  /** params shown only after "Show advanced params" (opened by itself when one of them has an error). */
  advanced?: Param[];
  /** controls by param kind that replace the generated one (e.g. "dataset": a picker with upload). */
  custom?: Record<string, (c: CustomControl) => ReactNode>;
}

export function ParamForm({ params, values, errors, onChange, idPrefix, suggestions, advanced = [], custom }: ParamFormProps) {
  // null: automatic (open while an advanced param has an error); else what the user chose
  const [showAdvanced, setShowAdvanced] = useState<boolean | null>(null);
  if (!params.length && !advanced.length) return <p className="muted">This agent has no params.</p>;
  const errorOf = (p: Param) => errors?.[p.name] ?? checkParam(p, values[p.name]) ?? undefined;
  const field = (p: Param) => (
    <ParamField
      key={p.name}
      param={p}
      value={values[p.name]}
      error={errorOf(p)}
      onChange={(v) => onChange(p.name, v)}
      id={`${idPrefix}-${p.name}`}
      suggestions={suggestions}
      custom={custom}
    />
  );
  const advErrors = advanced.filter((p) => errorOf(p)).length;
  const advSet = advanced.filter((p) => values[p.name] !== undefined).length;
  const open = showAdvanced ?? advErrors > 0;
  return (
    <div className="param-form">
      {params.map(field)}
      {advanced.length ? (
        <div className="advanced-params">
          <button
            type="button"
            className="link advanced-toggle"
            aria-expanded={open}
            aria-controls={`${idPrefix}-advanced`}
            onClick={() => setShowAdvanced(!open)}
          >
            {open ? 'Hide' : 'Show'} {advanced.length} advanced params
            {advSet ? ` (${advSet} set)` : ''}
            {advErrors ? ` (${advErrors} with errors)` : ''}
          </button>
          {open ? (
            <div id={`${idPrefix}-advanced`} className="param-form">
              {advanced.map(field)}
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

interface FieldProps {
  param: Param;
  value: unknown;
  error?: string;
  onChange: (v: unknown) => void;
  id: string;
  suggestions?: Record<string, string[]>;
  custom?: Record<string, (c: CustomControl) => ReactNode>;
}

const fmtDefault = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

function rangeText(p: Param): string {
  if (p.minimum !== undefined && p.maximum !== undefined) return `${p.minimum} to ${p.maximum}`;
  if (p.minimum !== undefined) return `≥ ${p.minimum}`;
  if (p.maximum !== undefined) return `≤ ${p.maximum}`;
  return '';
}

export function ParamField({ param: p, value, error, onChange, id, suggestions, custom }: FieldProps) {
  const helpID = `${id}-help`;
  const errID = `${id}-error`;
  const describedBy = [p.description || p.default !== undefined || rangeText(p) ? helpID : '', error ? errID : '']
    .filter(Boolean)
    .join(' ') || undefined;
  const isSet = value !== undefined;
  const common = {
    id,
    name: p.name,
    'aria-describedby': describedBy,
    'aria-invalid': error ? true : undefined,
    'aria-required': p.required || undefined,
  } as const;

  let control: React.ReactNode;
  switch (p.type) {
    case 'boolean': {
      const checked = typeof value === 'boolean' ? value : p.default === true;
      control = <input type="checkbox" {...common} checked={checked} onChange={(e) => onChange(e.target.checked)} />;
      break;
    }
    case 'integer':
    case 'number':
      control = (
        <input
          type="number"
          inputMode={p.type === 'integer' ? 'numeric' : 'decimal'}
          {...common}
          min={p.minimum}
          max={p.maximum}
          step={p.type === 'integer' ? 1 : 'any'}
          placeholder={fmtDefault(p.default)}
          value={value === undefined ? '' : String(value)}
          onChange={(e) => {
            const raw = e.target.value;
            if (raw === '') return onChange(undefined);
            const n = Number(raw);
            onChange(Number.isNaN(n) ? raw : n);
          }}
        />
      );
      break;
    case 'string':
      if (p.kind && custom?.[p.kind]) {
        control = custom[p.kind]({ id, param: p, value, onChange, describedBy, invalid: !!error });
      } else if (p.enum?.length) {
        control = (
          <select {...common} value={typeof value === 'string' ? value : ''} onChange={(e) => onChange(e.target.value || undefined)}>
            <option value="">{p.default !== undefined ? `default (${fmtDefault(p.default)})` : '— choose —'}</option>
            {p.enum.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        );
      } else {
        const list = p.kind ? suggestions?.[p.kind] : undefined;
        control = (
          <>
            <input
              type={p.kind === 'secret' ? 'password' : p.kind === 'url' ? 'url' : 'text'}
              {...common}
              list={list?.length ? `${id}-list` : undefined}
              placeholder={fmtDefault(p.default)}
              value={typeof value === 'string' ? value : value === undefined ? '' : String(value)}
              onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
              autoComplete="off"
            />
            {list?.length ? (
              <datalist id={`${id}-list`}>
                {list.map((s) => (
                  <option key={s} value={s} />
                ))}
              </datalist>
            ) : null}
          </>
        );
      }
      break;
    case 'array':
      if (p.enum?.length) {
        const cur = Array.isArray(value) ? (value as string[]) : Array.isArray(p.default) ? (p.default as string[]) : [];
        return (
          <fieldset className={`field${error ? ' has-error' : ''}`} aria-describedby={describedBy} data-param={p.name}>
            <legend>
              {p.name}
              {p.required ? <span aria-hidden="true"> *</span> : null}
            </legend>
            <div className="choices">
              {p.enum.map((o) => (
                <label key={o} className="choice">
                  <input
                    type="checkbox"
                    name={`${p.name}[]`}
                    checked={cur.includes(o)}
                    onChange={(e) => onChange(e.target.checked ? [...cur, o] : cur.filter((x) => x !== o))}
                  />
                  {o}
                </label>
              ))}
            </div>
            <Help id={helpID} p={p} />
            {error ? <FieldErr id={errID} msg={error} /> : null}
          </fieldset>
        );
      }
      control = (
        <input
          type="text"
          {...common}
          placeholder={Array.isArray(p.default) ? (p.default as unknown[]).join(', ') : 'comma, separated, values'}
          value={Array.isArray(value) ? (value as unknown[]).join(', ') : value === undefined ? '' : String(value)}
          onChange={(e) => {
            const raw = e.target.value;
            if (raw === '') return onChange(undefined);
            const items = raw.split(',').map((s) => s.trim());
            onChange(
              p.items === 'integer' || p.items === 'number'
                ? items.map((s) => (s === '' || Number.isNaN(Number(s)) ? s : Number(s)))
                : p.items === 'boolean'
                  ? items.map((s) => (s === 'true' ? true : s === 'false' ? false : s))
                  : items,
            );
          }}
        />
      );
      break;
    case 'object': {
      const obj = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
      return (
        <fieldset className={`field object${error ? ' has-error' : ''}`} aria-describedby={describedBy} data-param={p.name}>
          <legend>{p.name}</legend>
          <Help id={helpID} p={p} />
          {(p.fields ?? []).map((f) => (
            <ParamField
              key={f.name}
              param={f}
              value={obj[f.name]}
              error={checkParam(f, obj[f.name]) ?? undefined}
              id={`${id}-${f.name}`}
              suggestions={suggestions}
              custom={custom}
              onChange={(v) => {
                const next = { ...obj };
                if (v === undefined) delete next[f.name];
                else next[f.name] = v;
                onChange(Object.keys(next).length ? next : undefined);
              }}
            />
          ))}
        </fieldset>
      );
    }
    default:
      control = (
        <input
          type="text"
          {...common}
          value={value === undefined ? '' : JSON.stringify(value)}
          onChange={(e) => {
            try {
              onChange(JSON.parse(e.target.value));
            } catch {
              onChange(e.target.value);
            }
          }}
        />
      );
  }

  return (
    <div className={`field ${p.type}${error ? ' has-error' : ''}`} data-param={p.name}>
      <div className="field-head">
        <label htmlFor={id}>
          {p.name}
          {p.required ? <span aria-hidden="true"> *</span> : null}
        </label>
        {isSet ? (
          <button type="button" className="link small" onClick={() => onChange(undefined)} aria-label={`Reset ${p.name} to default`}>
            reset
          </button>
        ) : null}
      </div>
      {control}
      <Help id={helpID} p={p} />
      {error ? <FieldErr id={errID} msg={error} /> : null}
    </div>
  );
}

function Help({ id, p }: { id: string; p: Param }) {
  const r = rangeText(p);
  const parts = [p.description, r ? `Range ${r}.` : '', p.default !== undefined ? `Default ${fmtDefault(p.default)}.` : '']
    .filter(Boolean)
    .join(' ');
  if (!parts) return null;
  return (
    <p id={id} className="help">
      {parts}
    </p>
  );
}

function FieldErr({ id, msg }: { id: string; msg: string }) {
  return (
    <p id={id} className="error-text" role="alert">
      {msg}
    </p>
  );
}
