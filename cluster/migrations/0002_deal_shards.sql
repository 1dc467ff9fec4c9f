-- A deal keeps the number of StockShards it was created with: buyers map to shards by a
-- hash modulo this number, so it must never change under a running deal.
ALTER TABLE deals ADD COLUMN IF NOT EXISTS shards INT NOT NULL DEFAULT 1;
