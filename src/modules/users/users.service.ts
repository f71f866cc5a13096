/** The caller's profile (GET /api/v1/user): identity, team, flags and mode-aware models. */
import type { Db, Dialect } from '../../db/index.ts';
import type { ModelUseMode, SystemRole, TeamRole } from '../../db/schema.ts';
import type { Principal } from '../auth/auth.service.ts';
import { ownerOf } from '../auth/owner.ts';
import type { FeaturesService } from '../features/features.service.ts';
import type { ByokModelView, ModelsService } from '../models/models.service.ts';
import { TeamsRepo } from '../teams/teams.repo.ts';

export interface UserProfileView {
  id: string;
  email: string;
  role: SystemRole;
  features: { byok: boolean } & Record<string, boolean>;
  tag: string | null;
  team: { id: string; name: string; role: TeamRole } | null;
  model_use_mode: ModelUseMode;
  available_models: string[];
  byok_models?: ByokModelView[];
}

export class UsersService {
  private readonly teams: TeamsRepo;

  constructor(private readonly deps: { db: Db; dialect: Dialect; features: FeaturesService; models: ModelsService }) {
    this.teams = new TeamsRepo(deps.db, deps.dialect);
  }

  async profile(p: Principal): Promise<UserProfileView> {
    const owner = ownerOf(p);
    const [features, effective, team] = await Promise.all([
      this.deps.features.forOwner(owner),
      this.deps.models.effective(owner),
      p.membership ? this.teams.teamName(p.membership.teamId) : Promise.resolve(undefined),
    ]);
    const view: UserProfileView = {
      id: p.user.id,
      email: p.user.email,
      role: p.user.role,
      features: { ...features },
      tag: p.user.tag,
      team: p.membership && team ? { id: team.id, name: team.name, role: p.membership.role } : null,
      model_use_mode: effective.mode,
      available_models: this.deps.models.availableModelIds(effective),
    };
    if (effective.mode === 'byok') view.byok_models = effective.state?.byokModels ?? [];
    return view;
  }
}
