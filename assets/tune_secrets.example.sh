# Copy to tune_secrets.sh and keep it private: chmod 600 tune_secrets.sh
# auto_tune.sh sources it; autotune reads these variables (flags win).

# Webhook: a Feishu custom bot (default), or kind generic|dingtalk|wecom|slack.
export TUNE_WEBHOOK_URL=""
export TUNE_WEBHOOK_KIND="feishu"
export TUNE_FEISHU_SECRET=""

# Email.
export TUNE_SMTP_HOST=""
export TUNE_SMTP_PORT="587"
export TUNE_SMTP_USER=""
export TUNE_SMTP_PASS=""
export TUNE_SMTP_FROM=""
export TUNE_SMTP_TO=""            # several addresses separated by commas
export TUNE_EMAIL_KINDS="best,crashed,done"
# export TUNE_SMTP_SSL=1          # implicit TLS (port 465)
# export TUNE_SMTP_NO_STARTTLS=1  # plain SMTP

# Heartbeats and per-trial notifications.
export TUNE_HEARTBEAT_INTERVAL_S="0"
export TUNE_NOTIFY_TRIAL_DONE="0"
export TUNE_NOTIFY_TRIAL_DONE_EVERY="1"

# Search and port handling.
# export TUNE_SEARCH_SPACE_FILE="search_space.json"
# export TUNE_PORT_BUSY_RETRIES="3"
# export TUNE_PORT_BUSY_WAIT_S="10"
# export TUNE_PORT_BUSY_KILL="1"
