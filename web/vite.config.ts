import { defineConfig } from 'vitest/config';

// The built app is committed (web/dist) and embedded in the whet binary, so the
// build must be byte-identical from run to run: no timestamps, content hashes only.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      onwarn(w, warn) {
        // @xyflow/react starts with "use client", which means nothing in an SPA bundle.
        if (w.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(w);
      },
    },
  },
  server: {
    proxy: { '/api': process.env.WHET_API ?? 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    globals: true,
  },
});
