"""How the server aggregates: the algorithm, its decoder's settings, the robust rule
for float rows and the server optimizer (a nested table of RunConfig)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config_error import require
from common.flags import setting
from common.robust import available as available_rules

ZEROS = ("coin", "abstain")  # --zeros: see AggregatorConfig.zeros
ABSTENTIONS = ("disagree", "skip")  # --abstentions: see AggregatorConfig.abstentions
RULES = available_rules()  # --rule: common/robust's registry
SERVER_OPTIMIZERS = ("sgd", "momentum", "adam")  # FedAvg, FedAvgM, FedAdam


@dataclass(frozen=True)
class AggregatorConfig:
    # a name in the registry of common/algorithms (the CLI's choices come from there)
    algorithm: str = setting(
        "llr",
        flag="--algorithm",
        help="llr = IT-signSGD, mv = signSGD-MV, fd = signSGD-FD, sgd = float SGD, "
        "fedavg = local training and a server step",
    )
    # paper's T_in: plain majority while crossing estimates are noisy
    warmup_rounds: int = setting(
        100, flag="--warmup-rounds", help="llr: plain majority for the first T_in rounds"
    )
    # authors' code: keeps log((1-p)/p) finite at p = 0 or 1
    eps: float = setting(1e-5, flag="--eps", help="llr: eps inside log((1-p)/p)")
    # decision-directed estimates can run away; bound any one voter
    weight_clip: float = setting(10.0, flag="--weight-clip", help="llr: clip weights to +-this")
    # 1.0 counts every round alike (paper); < 1 discounts old rounds
    forgetting: float = setting(
        1.0, flag="--forgetting", help="llr: forgetting factor on the counts (1 = none)"
    )
    # one p per client over all coordinates, not one per coordinate
    pooled: bool = setting(
        False,
        flag="--pooled",
        help="llr: one crossing probability per client instead of per coordinate",
    )
    # what an exactly-zero gradient coordinate sends: a fair coin bit (1 bit per
    # coordinate, ties broken by a coin) or 0, an abstention, as torch.sign in the
    # authors' code (ternary votes and decisions; a tie decides 0)
    zeros: str = setting(
        "coin",
        flag="--zeros",
        help="sign algorithms: exact-zero coordinates send a coin bit or abstain (ternary)",
        choices=ZEROS,
    )
    # llr with abstaining zeros: the authors count an abstention as a disagreement;
    # "skip" counts only rounds the client voted in (common/aggregators/voted.py)
    abstentions: str = setting(
        "disagree",
        flag="--abstentions",
        help="llr, --zeros abstain: an abstention counts as a disagreement (the authors') "
        "or is skipped (only rounds a client voted in count)",
        choices=ABSTENTIONS,
    )
    # ---- float rows (sgd, fedavg): how they combine, and the server's step ----------
    # the weighted mean is FedAvg; the rest resist Byzantine rows (common/robust)
    rule: str = setting(
        "mean",
        flag="--rule",
        help="sgd, fedavg: how the rows combine: mean, or a robust rule",
        choices=RULES,
    )
    # beta = 0.2 drops 3 of 15 rows per side: as many as the attackers of the grid
    trim_beta: float = setting(
        0.2, flag="--trim-beta", help="trimmed-mean: drop floor(beta*M) rows at each end"
    )
    # 5 groups of 3 for 15 clients: a group mean is clean unless an attacker is in it
    groups: int = setting(5, flag="--groups", help="median-of-means: random groups per round")
    # -1: as many as Krum tolerates for the round's M rows, (M - 3) // 2
    byzantine: int = setting(
        -1, flag="--byzantine", help="krum: the f it assumes; -1: the most it tolerates"
    )
    multi_krum: int = setting(
        1, flag="--multi-krum", help="krum: average the m best-scored rows (1: Krum)"
    )
    # RFA stops far earlier on real rows; the cap bounds a pathological round
    weiszfeld_iters: int = setting(
        100, flag="--weiszfeld-iters", help="geometric-median: at most this many steps"
    )
    # FedAvg's x <- x + eta_g * Delta (sgd), FedAvgM's momentum, FedAdam (Reddi et al.)
    server_optimizer: str = setting(
        "sgd",
        flag="--server-optimizer",
        help="fedavg: the server's step on the aggregate: sgd (FedAvg), momentum "
        "(FedAvgM), adam (FedAdam)",
        choices=SERVER_OPTIMIZERS,
    )
    server_lr: float = setting(1.0, flag="--server-lr", help="fedavg: the server's eta_g")
    server_momentum: float = setting(
        0.9, flag="--server-momentum", help="fedavg --server-optimizer momentum: beta"
    )
    # Reddi et al.'s defaults: beta1 0.9, beta2 0.99, tau 1e-3
    adam_beta1: float = setting(0.9, flag="--adam-beta1", help="fedavg adam: beta1")
    adam_beta2: float = setting(0.99, flag="--adam-beta2", help="fedavg adam: beta2")
    adam_tau: float = setting(1e-3, flag="--adam-tau", help="fedavg adam: tau, its eps")
    # seeds the coin that breaks tied votes, so replays decide alike; the CLI sets the
    # run's --seed here
    seed: int = setting(0, set_by="--seed")

    def __post_init__(self) -> None:
        require(self.warmup_rounds >= 0, f"--warmup-rounds must be >= 0, got {self.warmup_rounds}")
        require(0 < self.eps < 0.5, f"--eps must be in (0, 0.5), got {self.eps}")
        require(self.weight_clip > 0, f"--weight-clip must be > 0, got {self.weight_clip}")
        require(0 < self.forgetting <= 1, f"--forgetting must be in (0, 1], got {self.forgetting}")
        require(
            self.zeros in ZEROS, f"--zeros must be one of {', '.join(ZEROS)}, got {self.zeros!r}"
        )
        require(
            self.abstentions in ABSTENTIONS,
            f"--abstentions must be one of {', '.join(ABSTENTIONS)}, got {self.abstentions!r}",
        )
        require(0 <= self.trim_beta < 0.5, f"--trim-beta must be in [0, 0.5), got {self.trim_beta}")
        require(self.groups >= 1, f"--groups must be >= 1, got {self.groups}")
        require(self.byzantine >= -1, f"--byzantine must be >= -1, got {self.byzantine}")
        require(self.multi_krum >= 1, f"--multi-krum must be >= 1, got {self.multi_krum}")
        require(
            self.weiszfeld_iters >= 1, f"--weiszfeld-iters must be >= 1, got {self.weiszfeld_iters}"
        )
        require(self.rule in RULES, f"--rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        require(
            self.server_optimizer in SERVER_OPTIMIZERS,
            f"--server-optimizer must be one of {', '.join(SERVER_OPTIMIZERS)}, "
            f"got {self.server_optimizer!r}",
        )
        require(self.server_lr > 0, f"--server-lr must be > 0, got {self.server_lr}")
        require(
            0 <= self.server_momentum < 1,
            f"--server-momentum must be in [0, 1), got {self.server_momentum}",
        )
        for flag, beta in (("--adam-beta1", self.adam_beta1), ("--adam-beta2", self.adam_beta2)):
            require(0 <= beta < 1, f"{flag} must be in [0, 1), got {beta}")
        require(self.adam_tau > 0, f"--adam-tau must be > 0, got {self.adam_tau}")
        if self.abstentions == "skip":
            require(self.zeros == "abstain", "--abstentions skip needs --zeros abstain")
            require(
                not self.pooled and self.forgetting == 1.0,
                "--abstentions skip keeps integer counts per coordinate: "
                "not with --pooled or --forgetting",
            )
