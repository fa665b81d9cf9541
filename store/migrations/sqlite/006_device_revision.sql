-- A revision per copied device, raised on every change, so a page can reuse what it
-- already decoded and read only the devices that changed. Compatible with the previous
-- release (a defaulted column).
ALTER TABLE devices ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
