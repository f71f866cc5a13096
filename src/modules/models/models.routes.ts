/**
 * GET /api/v1/models and GET /api/v1/models/{id} (CONTRACT.md section 5). Any
 * authenticated user, whatever the team role: the answer is the caller's owner's view
 * (the team's mode and keys for a team member).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { notFound } from '../../errors/index.ts';
import { principal } from '../../http/auth.ts';
import { BEARER_AND_KEY, errorResponses } from '../../http/schemas.ts';
import { ownerOf } from '../auth/owner.ts';
import { ListModelsResponse, Model, ModelParams, MODELS_COMPONENT_SCHEMAS, ref } from './models.schemas.ts';
import type { ModelsService } from './models.service.ts';

const SECURITY = BEARER_AND_KEY as unknown as { [scheme: string]: string[] }[];

const MODE_NOTE = `

In \`neo\` mode (or while the owner's \`byok\` flag is off) every catalogue model is available, \`served_by: "neo"\`. In \`byok\` mode a model is available only when one of the owner's provider keys serves it (from the model list discovered when the key was saved); \`served_by\` names the provider that would serve it (the model's first-party provider first, then Amazon Bedrock, Google Vertex, Azure AI Foundry, then OpenRouter and the Vercel AI Gateway) and \`reason\` says why an unavailable one is not. Team members see their team's models.`;

export const modelsRoutes: FastifyPluginAsync<{ models: ModelsService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const svc = opts.models;
  for (const s of MODELS_COMPONENT_SCHEMAS) app.addSchema(s);

  app.get(
    '/api/v1/models',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['Models'],
        operationId: 'get-v1-models',
        summary: 'List models',
        description: `The Neo model catalogue for the caller, first the \`auto\` alias (with \`resolves_to\`: the model it picks now), then every model.${MODE_NOTE}`,
        security: SECURITY,
        response: { 200: ref(ListModelsResponse), ...errorResponses(401) },
      },
    },
    async (request) => {
      const e = await svc.effective(ownerOf(principal(request)));
      return { data: svc.catalogueView(e) };
    },
  );

  app.get(
    '/api/v1/models/:id',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['Models'],
        operationId: 'get-v1-models-id',
        summary: 'Get a model',
        description: `One catalogue model for the caller. \`auto\` answers the alias with \`resolves_to\` (the model it picks for the caller now, by the documented preference order), or \`available: false\` when none is available. An unknown id → 404 \`not_exists\`.${MODE_NOTE}`,
        security: SECURITY,
        params: ModelParams,
        response: { 200: ref(Model), ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      const e = await svc.effective(ownerOf(principal(request)));
      const view = svc.modelViewById(e, request.params.id);
      if (!view) throw notFound(`no model "${request.params.id.slice(0, 100)}" in the Neo catalogue; GET /api/v1/models lists them`);
      return view;
    },
  );
};
