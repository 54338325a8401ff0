"""Deep-learning baseline ``dl_lstm``: an LSTM mapping recent prices/returns straight to
long-only weights (softmax), trained to maximise the Sharpe ratio (Zhang, Zohren and
Roberts, 2020, "Deep learning for portfolio optimisation").

Hyper-parameters are the paper's defaults scaled down for speed, fixed a priori (not tuned on
out-of-sample years). Trained per fold on the last ``train_days`` before the fold; the assets
are those with prices over that whole span (cash ETF excluded: cash is the risk-free rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from riskalloc.market import MarketData, risky_tickers
from riskalloc.seeding import seed_everything
from riskalloc.training import EarlyStopping, fit_with_early_stopping


class _SharpeLSTM(nn.Module):
    """LSTM over (time × 2·assets) inputs, softmax weights from its last hidden state."""

    def __init__(self, n_assets: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2 * n_assets, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_assets)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        out, _ = self.lstm(x)
        logits = self.head(out[:, -1, :])
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.softmax(logits, dim=-1)


def _features(logp: np.ndarray, scale: np.ndarray, window: int) -> np.ndarray:
    """Windows ending at each row ≥ window: [returns/σ, (log p − log p_end)/(σ√window)].

    ``logp`` is (T × n) log prices; returns an array (T − window) × window × 2n whose k-th
    item uses rows k+1 .. k+window (so it ends at row k+window).
    """
    r = np.diff(logp, axis=0) / scale  # row j = return into row j+1
    rel_all = logp / (scale * np.sqrt(window))
    items = []
    for end in range(window, logp.shape[0]):
        ret = r[end - window : end]
        rel = rel_all[end - window + 1 : end + 1] - rel_all[end]
        items.append(np.concatenate([ret, rel], axis=1))
    return np.asarray(items, dtype=np.float32).reshape(-1, window, 2 * logp.shape[1])


def _neg_sharpe(weights: torch.Tensor, next_returns: torch.Tensor) -> torch.Tensor:
    """Minus the (daily) Sharpe ratio of the portfolio returns over a batch."""
    port = (weights * next_returns).sum(dim=1)
    return -port.mean() / (port.std() + 1e-8)


class DeepSharpeLSTM:
    """Strategy: LSTM → softmax weights, Sharpe-ratio loss (fully invested in risky assets)."""

    name = "dl_lstm"
    risk_measures: tuple[str, ...] = ("none",)
    stochastic = True

    def __init__(
        self,
        seed: int = 0,
        window: int = 50,
        hidden: int = 32,
        epochs: int = 40,
        batch_size: int = 64,
        lr: float = 1e-3,
        train_days: int = 1008,
        exclude_cash: bool = True,
    ) -> None:
        self.seed, self.window, self.hidden = seed, window, hidden
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.train_days, self.exclude_cash = train_days, exclude_cash
        self.model: _SharpeLSTM | None = None
        self.assets: list[str] = []
        self.scale: np.ndarray = np.ones(0)
        self.losses: list[float] = []  # validation loss (−Sharpe) per epoch

    def fit(self, md: MarketData) -> None:
        """Train on the last ``train_days`` (+ window) rows of ``md`` (already cut: no future)."""
        seed_everything(self.seed)
        span = md.prices.loc[:, risky_tickers(md, self.exclude_cash)].tail(
            self.train_days + self.window + 1
        )
        self.assets = [c for c in span.columns if span[c].notna().all()]
        self.model = None
        if len(self.assets) < 2 or len(span) < self.window + 2 * self.batch_size:
            return  # too little history: weights() falls back to equal weight
        logp = np.log(span.loc[:, self.assets].to_numpy())
        self.scale = np.diff(logp, axis=0).std(axis=0) + 1e-8
        x = torch.from_numpy(_features(logp[:-1], self.scale, self.window))
        nxt = np.exp(np.diff(logp, axis=0))[self.window :] - 1.0  # return on the day after
        y = torch.from_numpy(nxt.astype(np.float32))
        n_val = max(self.batch_size, len(x) // 5)  # most recent fifth: early-stopping check
        x_fit, y_fit, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
        self.model = _SharpeLSTM(len(self.assets), self.hidden)
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        model = self.model

        def run_epoch(_: int) -> dict[str, float]:
            for batch in torch.randperm(len(x_fit), generator=gen).split(self.batch_size):
                loss = _neg_sharpe(model(x_fit[batch]), y_fit[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            return {}

        def validate(_: int) -> float:
            with torch.no_grad():
                return float(_neg_sharpe(model(x_val), y_val))

        # no patience: every epoch runs, the best on the validation fifth is kept
        fit = fit_with_early_stopping(model, self.epochs, run_epoch, validate, EarlyStopping())
        self.losses = [row["val_loss"] for row in fit.history]

    def weights(self, md: MarketData, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Model weights at each date from the ``window`` days up to it; 0 for unpriced assets."""
        idx = pd.DatetimeIndex(list(dates), name="date")
        out = pd.DataFrame(0.0, index=idx, columns=md.tickers)
        risky = risky_tickers(md, self.exclude_cash)
        for d in idx:
            past = md.prices.loc[md.prices.index <= d].tail(self.window + 1)
            if len(past) < self.window + 1:
                continue
            ok = past.notna().all(axis=0)
            if self.model is None:
                chosen = [t for t in risky if ok[t]]
                if chosen:
                    out.loc[d, chosen] = 1.0 / len(chosen)
                continue
            sub = past.loc[:, self.assets]
            mask = torch.tensor(ok[self.assets].to_numpy(dtype=bool))[None, :]
            if not bool(mask.any()):
                continue
            logp = np.log(sub.ffill().bfill().to_numpy())
            x = torch.from_numpy(_features(logp, self.scale, self.window))
            with torch.no_grad():
                w = self.model(x, mask)[0].numpy().astype(float)
            out.loc[d, self.assets] = w / w.sum()
        return out
