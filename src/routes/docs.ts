import type { FastifyInstance } from 'fastify'

export interface DocsRoutesOptions {
  openapiYaml: string
}

export async function docsRoutes(app: FastifyInstance, { openapiYaml }: DocsRoutesOptions) {
  app.get('/openapi.yaml', { config: { public: true } }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    return reply.type('application/yaml; charset=utf-8').send(openapiYaml)
  })
}
