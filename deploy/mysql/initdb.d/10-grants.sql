-- As scripts/services.sh: the tests create and drop scratch databases, so seckill gets every privilege.
GRANT ALL PRIVILEGES ON *.* TO 'seckill'@'%';
FLUSH PRIVILEGES;
