// useServerData loads what the editor needs from the server: the agents (the
// palette and the param schemas) and the uploaded datasets (the dataset picker).

import { useMemo } from 'react';
import { api, type AgentSpec, type Dataset } from '../api';
import { useFetch } from '../ui/useFetch';

export function useServerData() {
  const agents = useFetch(() => api.agents(), []);
  const datasets = useFetch(() => api.datasets(), []);
  const specOf = useMemo(() => new Map((agents.data ?? []).map((a) => [a.name, a] as [string, AgentSpec])), [agents.data]);
  return {
    agents: agents.data,
    specOf,
    loadErr: agents.error ? `Could not load agents: ${agents.error}` : '',
    datasets: (datasets.data ?? []) as Dataset[],
    reloadDatasets: datasets.reload,
  };
}
