// useFetch is the one data-fetching hook of the list and detail pages: it
// loads, keeps the last good value while reloading, reports errors, and can
// poll (the interval may depend on the value, e.g. faster while a job runs).

import { useCallback, useEffect, useRef, useState } from 'react';

export interface Fetched<T> {
  data: T | null;
  error: string;
  loading: boolean;
  /** reload fetches again now (after an upload, a submit...). */
  reload: () => void;
}

export interface FetchOptions<T> {
  /** poll returns the delay in ms before the next load, or null to stop; called after each load. */
  poll?: (data: T | null, error: string) => number | null;
}

export function useFetch<T>(load: () => Promise<T>, deps: readonly unknown[], opts: FetchOptions<T> = {}): Fetched<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const pollRef = useRef(opts.poll);
  pollRef.current = opts.poll;

  useEffect(() => {
    let stop = false;
    let timer = 0;
    const run = () => {
      setLoading(true);
      loadRef.current().then(
        (v) => {
          if (stop) return;
          setData(v);
          setError('');
          setLoading(false);
          const next = pollRef.current?.(v, '');
          if (next != null) timer = window.setTimeout(run, next);
        },
        (e: Error) => {
          if (stop) return;
          setError(e.message || String(e));
          setLoading(false);
          const next = pollRef.current?.(null, e.message);
          if (next != null) timer = window.setTimeout(run, next);
        },
      );
    };
    run();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
