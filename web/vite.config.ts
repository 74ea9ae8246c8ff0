import { defineConfig } from 'vite';

// The server serves dist/ at "/" with an SPA fallback, so assets use absolute
// paths. `npm run dev` proxies the API to a local server (DESKAUDIT_API).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    // hls.js alone is ~520 kB minified; it is its own lazily loaded chunk.
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      '/api': process.env.DESKAUDIT_API ?? 'http://127.0.0.1:8080',
    },
  },
});
