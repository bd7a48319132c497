import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run dev`: the API runs on TRIBUTARY_API (the server started by scripts/dev.mjs); Vite proxies it.
const api = process.env.TRIBUTARY_API ?? 'http://127.0.0.1:8080';
const apiPaths = ['/v1', '/v2', '/api', '/models', '/compare', '/chat', '/health', '/ready'];

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1200 },
  server: { proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: api, changeOrigin: false }])) },
});
