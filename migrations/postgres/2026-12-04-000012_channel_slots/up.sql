-- The channels' rate limits (issue 13), shared by every instance: a channel (a group robot
-- by its id, `sms`, `voice`) allowed N sends per window has up to N slots; a send takes a slot
-- whose last use is a whole window ago, so no window holds more than N sends, whichever
-- instance sends them. Slots are made as they are first needed.
CREATE TABLE channel_slots (
    channel TEXT NOT NULL,
    slot INTEGER NOT NULL,
    used_at TIMESTAMP NOT NULL,
    PRIMARY KEY (channel, slot)
);
