#!/bin/sh
# One shot (minio/mc): the event-store bucket with versioning on (an overwritten or deleted object
# keeps its earlier version: the event store's backup), and the application's user, whose policy
# (minio-app-policy.json) allows reading and writing that bucket's objects only: no delete, no
# bucket or admin operations. Secrets come from the environment; `mc admin user add` takes them as
# arguments inside this short-lived container only.
set -eu
mc alias set spice http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /dev/null
mc mb --ignore-existing "spice/$S3_BUCKET"
mc version enable "spice/$S3_BUCKET"
sed "s/\${S3_BUCKET}/$S3_BUCKET/g" /spice/minio-app-policy.json > /tmp/spice-app-policy.json
mc admin policy create spice spice-app /tmp/spice-app-policy.json
mc admin user add spice "$APP_ACCESS_KEY" "$APP_SECRET_KEY"
# attach answers an error when the policy is attached already (a second `up`): check, then attach.
mc admin user info spice "$APP_ACCESS_KEY" | grep -q "spice-app" ||
  mc admin policy attach spice spice-app --user "$APP_ACCESS_KEY"
echo "minio-init: bucket $S3_BUCKET and user $APP_ACCESS_KEY ready"
