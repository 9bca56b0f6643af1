/**
 * Interactive API documentation at /api/v1/docs: Swagger UI over /api/v1/openapi.json, served from
 * the pinned swagger-ui-dist package (no CDN: the page works offline and behind a firewall). The
 * page has no inline script, so a strict Content-Security-Policy can serve it.
 */
import path from 'node:path';
import express, { Router } from 'express';

const ASSETS = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const SERVED = new Set(['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']);

export function docsRouter(apiPrefix: string): Router {
  const router = Router();
  const assets = `${apiPrefix}/docs/assets`;
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>spice-oms API</title>
<link rel="stylesheet" href="${assets}/swagger-ui.css">
<link rel="icon" href="${assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assets}/swagger-ui-bundle.js"></script>
<script src="${assets}/init.js"></script>
</body>
</html>
`;
  const init = `window.ui = SwaggerUIBundle({ url: ${JSON.stringify(`${apiPrefix}/openapi.json`)}, dom_id: '#swagger-ui', deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0 });\n`;

  router.get('/docs', (_req, res) => {
    res.locals.route = `${apiPrefix}/docs`;
    res.type('html').send(page);
  });
  router.get('/docs/assets/init.js', (_req, res) => {
    res.locals.route = `${apiPrefix}/docs/assets`;
    res.type('js').send(init);
  });
  const files = express.static(ASSETS, { index: false, fallthrough: false, maxAge: '1d' });
  router.get('/docs/assets/:file', (req, res, next) => {
    res.locals.route = `${apiPrefix}/docs/assets`;
    // Only the files the page loads: the package also holds source maps and other bundles.
    if (!SERVED.has(req.params.file)) return next();
    req.url = `/${req.params.file}`;
    files(req, res, next);
  });
  return router;
}
