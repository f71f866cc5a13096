/** The caller's profile (GET /api/v1/user): identity, team, flags and mode-aware models. */
import type { Db, Dialect } from '../../db/index.ts';
import type { ModelUseMode, SystemRole, TeamRole } from '../../db/schema.ts';
import type { Principal } from '../auth/auth.service.ts';
import { ownerOf } from '../auth/owner.ts';
import type { FeaturesService } from '../features/features.service.ts';
import type { ByokModelView, ModelsService } from '../models/models.service.ts';
import { TeamsRepo } from '../teams/teams.repo.ts';
import { andThen, Cache, isPending, type Now } from '../../lib/cache.ts';
import type { CacheBus } from '../../lib/bus.ts';

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
  /**
   * Team id → name, for the profile of team members (half of GET /user's callers in the
   * benchmark read it from the database on every call). Dropped on the `team` topic by a
   * rename (published inside its transaction) and with every other cache on a bus reset.
   */
  private readonly teamNames: Cache<{ id: string; name: string }>;

  constructor(private readonly deps: { db: Db; dialect: Dialect; features: FeaturesService; models: ModelsService; bus: CacheBus }) {
    this.teams = new TeamsRepo(deps.db, deps.dialect);
    this.teamNames = new Cache({ name: 'team_names', bus: deps.bus, topic: 'team', max: 50_000, ttlMs: 60_000 });
  }

  /** The caller's profile: the value itself when everything is cached (no promise; src/lib/cache.ts `lookup`). */
  profile(p: Principal): Now<UserProfileView> {
    const owner = ownerOf(p);
    const teamId = p.membership?.teamId;
    const team = teamId === undefined ? undefined : this.teamNames.lookup(teamId, () => this.teams.teamName(teamId));
    // Read in parallel with the owner's state when not cached; its failure is reported
    // through the chain below (this handler only keeps it from being "unhandled" meanwhile).
    if (isPending(team)) team.catch(() => {});
    return andThen(this.deps.features.forOwnerNow(owner), (features) =>
      andThen(this.deps.models.effectiveNow(owner), (effective) =>
        andThen(team, (t) => {
          const view: UserProfileView = {
            id: p.user.id,
            email: p.user.email,
            role: p.user.role,
            features: { ...features },
            tag: p.user.tag,
            team: p.membership && t ? { id: t.id, name: t.name, role: p.membership.role } : null,
            model_use_mode: effective.mode,
            available_models: this.deps.models.availableModelIds(effective),
          };
          if (effective.mode === 'byok') view.byok_models = effective.state?.byokModels ?? [];
          return view;
        }),
      ),
    );
  }
}
